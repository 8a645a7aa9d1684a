//! One async interface to cloud phones from several vendors.
//!
//! `cloudphone` is the crate applications depend on. It re-exports the vendor-neutral contract
//! of [`cloudphone_core`] — the [`CloudPhoneProvider`] trait, [`BatchReport`] with exactly one
//! outcome per requested phone, normalized [`Error`]s — builds providers from configuration
//! ([`Config`]), and drives several named providers as one [`Fleet`].
//!
//! Vendors are cargo features, all on by default: `geelark` (`type = "geelark"`),
//! `huawei-cph` (`type = "huawei-cph"`) and `alibaba` (`type = "alibaba"`); `fake` adds an
//! in-memory provider (`type = "fake"`).
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cloudphone::{Config, Fleet, PhoneRef, WaitOptions};
//!
//! let config = Config::from_toml_str(r#"
//!     [providers.lab]
//!     type = "fake"
//!     phones = 3
//! "#)?;
//! let fleet = Fleet::from_config(&config)?;
//! let phones: Vec<PhoneRef> = vec!["lab/fake-0".parse()?, "lab/fake-1".parse()?];
//! let stopping = fleet.stop(&phones).await?;
//! let stopped = fleet.wait(&stopping, &WaitOptions::default()).await?;
//! assert_eq!(stopped.summary().succeeded, 2);
//! # Ok(())
//! # }
//! ```

pub mod config;
mod fleet;
pub mod journal;

pub use cloudphone_core::*;
pub use config::{builtin_registry, Config, ConfigError, JournalConfig, ProviderConfig};
pub use fleet::{Fleet, FleetOutcome, FleetReport, PhoneRef};

/// The Alibaba Cloud Cloud Phone (eds-aic) backend.
#[cfg(feature = "alibaba")]
pub use cloudphone_alibaba as alibaba;
/// The GeeLark backend.
#[cfg(feature = "geelark")]
pub use cloudphone_geelark as geelark;
/// The Huawei Cloud CPH backend.
#[cfg(feature = "huawei-cph")]
pub use cloudphone_huawei_cph as huawei_cph;

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
