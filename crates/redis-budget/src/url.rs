//! Store URLs as they may be shown: without a password.

/// `url` with the password of its user-info replaced by `***`
/// (`redis://user:***@host:6379/0`), and any query dropped (the driver does not read one, and
/// it is where a password would hide otherwise).
///
/// ```
/// use cloudphone_redis::redact_url;
///
/// assert_eq!(redact_url("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
/// assert_eq!(redact_url("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
/// assert_eq!(redact_url("redis://u:p@ss@h/1?x=y"), "redis://u:***@h/1");
/// assert_eq!(redact_url("redis://u@h"), "redis://u@h");
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: whatever it is, it is not shown.
        return "(not a URL)".into();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            format!("{scheme}://{user}@{host}{path}")
        }
        None => format!("{scheme}://{rest}"),
    }
}
