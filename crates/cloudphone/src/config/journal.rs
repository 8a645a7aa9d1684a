//! The `[journal]` table: where the journal of sent state changes lives and how long finished
//! entries are kept.
//!
//! ```toml
//! [journal]
//! path = "/var/lib/cloudphone/journal.sqlite"
//! keep_finished_days = 30
//! ```

use std::path::PathBuf;
use std::time::Duration;

use cloudphone_journal::{Journal, JournalOptions};

use super::ConfigError;

/// The `[journal]` table of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JournalConfig {
    /// The SQLite file (created with its directory if missing). A relative path is relative to
    /// the current directory. Without it, the caller picks one (the CLI: the platform's state
    /// directory).
    pub path: Option<PathBuf>,
    /// Finished entries older than this many days are pruned when the journal is opened
    /// (default 30). Unfinished entries are never pruned.
    pub keep_finished_days: Option<u64>,
}

impl JournalConfig {
    /// The options to open the journal with.
    pub fn options(&self) -> JournalOptions {
        let mut options = JournalOptions::default();
        if let Some(days) = self.keep_finished_days {
            options = options.keep_finished(Duration::from_secs(days.saturating_mul(86_400)));
        }
        options
    }

    /// Opens the journal at `path` (or, without one, at `default`) with these options.
    pub fn open(&self, default: Option<PathBuf>) -> cloudphone_core::Result<Journal> {
        let path = self.path.clone().or(default).ok_or_else(|| {
            cloudphone_core::Error::new(
                cloudphone_core::ErrorKind::Config,
                "the journal has no path: set `[journal] path`",
            )
        })?;
        Journal::open_with(path, &self.options())
    }
}

/// Parses the `[journal]` table.
pub(super) fn parse(value: toml::Value) -> Result<JournalConfig, ConfigError> {
    let config: JournalConfig = super::syntax::section("journal", value)?;
    if config
        .path
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(ConfigError::Syntax(
            "[journal]: key `path` must not be empty".into(),
        ));
    }
    Ok(config)
}
