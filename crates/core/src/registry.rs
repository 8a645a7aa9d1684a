//! The vendor registry: what a backend crate exports so that configuration can name it by
//! `type` — one crate and one registration line per vendor.
//!
//! A backend implements [`Vendor`] (usually as a [`TypedVendor`] over its serde configuration
//! struct); the `cloudphone` facade registers the backends its cargo features enable, and an
//! application can register its own ([`Registry::register`]). Every place that used to match on
//! the vendor — parsing, building, secret keys, URLs to check — is a registry look-up.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{CloudPhoneProvider, Result};

/// One provider's configuration table as written (`type` removed, `${VAR}`s expanded).
pub type ConfigTable = toml::Table;

/// A parsed configuration of one provider, ready to build. Its `Debug` hides secrets.
pub trait VendorConfig: fmt::Debug + Send + Sync + 'static {
    /// Builds the provider.
    fn build(&self) -> Result<Arc<dyn CloudPhoneProvider>>;

    /// The URLs requests (and credentials) are sent to, by key, for the plain-http check.
    fn urls(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// The typed configuration, for callers that know the vendor.
    fn as_any(&self) -> &dyn Any;
}

/// A vendor backend as the registry knows it.
pub trait Vendor: Send + Sync + 'static {
    /// The `type` name in configuration (e.g. `"acme"`).
    fn type_name(&self) -> &'static str;

    /// The configuration keys that hold secrets (warned about when written in clear).
    fn secret_keys(&self) -> &'static [&'static str];

    /// Parses one provider table. The error names the key at fault (serde's path is kept).
    fn parse(&self, table: ConfigTable) -> Result<Arc<dyn VendorConfig>, toml::de::Error>;
}

/// A [`Vendor`] over a serde configuration struct `C` and a function building a provider
/// from it — what most backends need, in one `static`.
pub struct TypedVendor<C> {
    type_name: &'static str,
    secret_keys: &'static [&'static str],
    build: fn(&C) -> Result<Arc<dyn CloudPhoneProvider>>,
    urls: fn(&C) -> Vec<(&'static str, String)>,
    _config: PhantomData<fn() -> C>,
}

impl<C> TypedVendor<C> {
    /// A vendor named `type_name`, whose `secret_keys` hold secrets, built by `build`.
    pub const fn new(
        type_name: &'static str,
        secret_keys: &'static [&'static str],
        build: fn(&C) -> Result<Arc<dyn CloudPhoneProvider>>,
    ) -> Self {
        TypedVendor {
            type_name,
            secret_keys,
            build,
            urls: |_| Vec::new(),
            _config: PhantomData,
        }
    }

    /// The URLs a configuration sends requests to, for the plain-http check.
    pub const fn with_urls(mut self, urls: fn(&C) -> Vec<(&'static str, String)>) -> Self {
        self.urls = urls;
        self
    }
}

impl<C> fmt::Debug for TypedVendor<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypedVendor({})", self.type_name)
    }
}

struct Typed<C> {
    config: C,
    build: fn(&C) -> Result<Arc<dyn CloudPhoneProvider>>,
    urls: fn(&C) -> Vec<(&'static str, String)>,
}

impl<C: fmt::Debug> fmt::Debug for Typed<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl<C: fmt::Debug + Send + Sync + 'static> VendorConfig for Typed<C> {
    fn build(&self) -> Result<Arc<dyn CloudPhoneProvider>> {
        (self.build)(&self.config)
    }

    fn urls(&self) -> Vec<(&'static str, String)> {
        (self.urls)(&self.config)
    }

    fn as_any(&self) -> &dyn Any {
        &self.config
    }
}

impl<C> Vendor for TypedVendor<C>
where
    C: DeserializeOwned + fmt::Debug + Send + Sync + 'static,
{
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn secret_keys(&self) -> &'static [&'static str] {
        self.secret_keys
    }

    fn parse(&self, table: ConfigTable) -> Result<Arc<dyn VendorConfig>, toml::de::Error> {
        let config: C = toml::Value::Table(table).try_into()?;
        Ok(Arc::new(Typed {
            config,
            build: self.build,
            urls: self.urls,
        }))
    }
}

/// The vendors a program knows, by `type` name.
#[derive(Clone, Default)]
pub struct Registry {
    vendors: BTreeMap<&'static str, Arc<dyn Vendor>>,
    /// Types known by name but not compiled in, with the cargo feature that adds them.
    unavailable: BTreeMap<&'static str, &'static str>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.vendors.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers (or replaces) a vendor under its type name.
    pub fn register(&mut self, vendor: Arc<dyn Vendor>) -> &mut Self {
        self.unavailable.remove(vendor.type_name());
        self.vendors.insert(vendor.type_name(), vendor);
        self
    }

    /// Registers a vendor, builder style.
    pub fn with(mut self, vendor: Arc<dyn Vendor>) -> Self {
        self.register(vendor);
        self
    }

    /// Records a type this build leaves out, so that configuring it names the feature to enable.
    pub fn unavailable(&mut self, type_name: &'static str, feature: &'static str) -> &mut Self {
        if !self.vendors.contains_key(type_name) {
            self.unavailable.insert(type_name, feature);
        }
        self
    }

    /// The vendor registered as `type_name`.
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn Vendor>> {
        self.vendors.get(type_name)
    }

    /// The cargo feature that would add `type_name`, if it is a known type left out.
    pub fn feature_for(&self, type_name: &str) -> Option<&'static str> {
        self.unavailable.get(type_name).copied()
    }

    /// Every registered vendor, by type name.
    pub fn vendors(&self) -> impl Iterator<Item = &Arc<dyn Vendor>> {
        self.vendors.values()
    }

    /// The registered type names, comma-separated (for error messages).
    pub fn type_list(&self) -> String {
        let names: Vec<&str> = self.vendors.keys().copied().collect();
        if names.is_empty() {
            "none registered".into()
        } else {
            names.join(", ")
        }
    }

    /// Every secret key of every registered vendor.
    pub fn secret_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.vendors
            .values()
            .flat_map(|v| v.secret_keys().iter().copied())
    }
}
