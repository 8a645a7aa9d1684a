//! One scrubber for every secret a provider knows, so that a vendor echoing a credential back
//! (in a message, per phone or request-level) never puts it in an error, a log or the output.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::Error;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not scrubbed: replacing every `1` or `ab` in vendor text would
/// make messages unreadable, and credentials are never that short.
const MIN_SECRET_LEN: usize = 6;

/// A shared, growing set of secrets to scrub from text: configured credentials, and tokens
/// issued to us at run time (an IAM token). Clones share the set.
#[derive(Clone, Default)]
pub struct Scrubber {
    secrets: Arc<RwLock<Vec<Box<str>>>>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.secrets.read().map_or(0, |s| s.len());
        write!(f, "Scrubber({n} secrets)")
    }
}

impl Scrubber {
    /// An empty scrubber.
    pub fn new() -> Self {
        Scrubber::default()
    }

    /// Adds a secret (ignored when shorter than six bytes or already known).
    pub fn add(&self, secret: &str) {
        let secret = secret.trim();
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut all = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        if !all.iter().any(|s| &**s == secret) {
            all.push(secret.into());
            // Longest first, so that a secret containing another is replaced whole.
            all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Adds a secret, builder style.
    pub fn with(self, secret: &str) -> Self {
        self.add(secret);
        self
    }

    /// `text` with every known secret replaced by `[redacted]`; borrowed when nothing matched.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let all = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Cow::Borrowed(text);
        for s in all.iter() {
            if out.contains(&**s) {
                out = Cow::Owned(out.replace(&**s, REDACTED));
            }
        }
        out
    }

    /// `Some(scrubbed)` when `text` held a secret.
    pub fn scrub_changed(&self, text: &str) -> Option<String> {
        match self.scrub(text) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        }
    }

    /// The error with every text it carries scrubbed.
    pub fn scrub_error(&self, error: Error) -> Error {
        if self.is_empty() {
            return error;
        }
        error.map_text(|t| self.scrub_changed(t))
    }

    fn is_empty(&self) -> bool {
        self.secrets.read().map_or(true, |s| s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn echoed_secrets_are_replaced_everywhere_in_an_error() {
        let s = Scrubber::new().with("sk-very-secret").with("abc");
        let io = std::io::Error::other("peer said sk-very-secret");
        let e = Error::new(ErrorKind::Unauthenticated, "bad key sk-very-secret, abc")
            .with_vendor_code("sk-very-secret")
            .with_source(io);
        let e = s.scrub_error(e);
        let all = format!("{e} {e:?} {}", std::error::Error::source(&e).unwrap());
        assert!(!all.contains("sk-very-secret"), "{all}");
        assert!(all.contains("[redacted]"));
        // Too short to be a credential: left alone.
        assert!(all.contains("abc"));
    }

    #[test]
    fn a_secret_added_later_is_scrubbed_by_every_clone() {
        let s = Scrubber::new();
        let clone = s.clone();
        assert_eq!(clone.scrub("token tok-123456"), "token tok-123456");
        s.add("tok-123456");
        assert_eq!(clone.scrub("token tok-123456"), "token [redacted]");
    }
}
