//! The plain-`http://` check: a warning naming the provider and key.

use super::ProviderConfig;

/// Warns (through `tracing`) about every URL of `config` that is plain `http://` to a host
/// other than loopback: requests, and the credentials they carry, would cross the network
/// unencrypted. The URL itself is not logged (it may hold user info or come from a variable).
pub(super) fn warn_if_plain_http(provider: &str, config: &ProviderConfig) {
    for (key, url) in config.config.urls() {
        if is_plain_http_off_loopback(&url) {
            tracing::warn!(
                "provider `{provider}`: `{key}` is plain http:// to a host that is not loopback; \
                 requests and credentials travel unencrypted — use https://"
            );
        }
    }
}

/// Whether `url` is `http://` (any case) to a host other than `localhost`, `127.0.0.0/8` or
/// `::1`. Deliberately simple and on the side of warning: anything it cannot read as one of
/// those hosts counts as off loopback (`\` ends the host, as in browsers, so that
/// `http://evil\@localhost` is not mistaken for loopback).
pub(super) fn is_plain_http_off_loopback(url: &str) -> bool {
    let url = url.trim_matches(|c: char| c <= ' ');
    let Some(scheme) = url.get(..7) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("http://") {
        return false;
    }
    let rest = &url[7..];
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, _)) => h,
            None => return true,
        },
        None => host_port.split(':').next().unwrap_or_default(),
    };
    !is_loopback_host(host)
}

pub(super) fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        return v4.is_loopback();
    }
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}
