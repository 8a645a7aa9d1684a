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

use std::ops::DerefMut;

use serde::de::DeserializeOwned;

use crate::rate_store::SharedStore;
use crate::{ClientOptions, CloudPhoneProvider, Error, ErrorKind, Result};

/// What the program building providers adds to their configuration: for now, where their rate
/// budgets and lock-outs are kept.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BuildContext {
    /// The store for rate budgets and lock-outs (`None`: each provider keeps its own in this
    /// process).
    pub rate_limit_store: Option<SharedStore>,
}

impl BuildContext {
    /// A context that adds nothing.
    pub fn new() -> Self {
        BuildContext::default()
    }

    /// Keeps the providers' rate budgets and lock-outs in `store`.
    pub fn with_rate_limit_store(mut self, store: Option<SharedStore>) -> Self {
        self.rate_limit_store = store;
        self
    }

    /// Applies the context to a vendor's client options.
    pub fn apply(&self, options: &mut ClientOptions) {
        if let Some(store) = &self.rate_limit_store {
            options.rate_limit_store = Some(store.clone());
        }
    }
}

/// One provider's configuration table as written (`type` removed, `${VAR}`s expanded).
pub type ConfigTable = toml::Table;

/// A parsed configuration of one provider, ready to build. Its `Debug` hides secrets.
pub trait VendorConfig: fmt::Debug + Send + Sync + 'static {
    /// Builds the provider.
    fn build(&self) -> Result<Arc<dyn CloudPhoneProvider>>;

    /// Builds the provider with what `context` adds. A vendor that cannot honour it refuses
    /// (the default, unless the context adds nothing): a rate-limit store silently ignored would
    /// let processes exceed the vendor's limit.
    fn build_with(&self, context: &BuildContext) -> Result<Arc<dyn CloudPhoneProvider>> {
        match &context.rate_limit_store {
            Some(store) => Err(Error::new(
                ErrorKind::Config,
                format!(
                    "this vendor cannot keep its rate budget in the rate-limit store `{}`",
                    store.store().describe()
                ),
            )),
            None => self.build(),
        }
    }

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
    build: Build<C>,
    contextual: Option<Contextual<C>>,
    urls: fn(&C) -> Vec<(&'static str, String)>,
    _config: PhantomData<fn() -> C>,
}

type Build<C> = fn(&C) -> Result<Arc<dyn CloudPhoneProvider>>;
type Contextual<C> = fn(&C, &BuildContext, Build<C>) -> Result<Arc<dyn CloudPhoneProvider>>;

/// Builds from a copy of `config` whose client options took `context`.
fn build_in_context<C: Clone + DerefMut<Target = ClientOptions>>(
    config: &C,
    context: &BuildContext,
    build: Build<C>,
) -> Result<Arc<dyn CloudPhoneProvider>> {
    let mut config = config.clone();
    context.apply(&mut config);
    build(&config)
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
            contextual: None,
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

impl<C: Clone + DerefMut<Target = ClientOptions>> TypedVendor<C> {
    /// Lets a [`BuildContext`] (a shared rate-limit store) reach the configuration's embedded
    /// [`ClientOptions`] (see [`client_options_field!`](crate::client_options_field)) before
    /// the provider is built.
    pub const fn with_client_options(mut self) -> Self {
        self.contextual = Some(build_in_context::<C> as Contextual<C>);
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
    build: Build<C>,
    contextual: Option<Contextual<C>>,
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

    fn build_with(&self, context: &BuildContext) -> Result<Arc<dyn CloudPhoneProvider>> {
        match self.contextual {
            Some(contextual) => contextual(&self.config, context, self.build),
            None if context.rate_limit_store.is_none() => self.build(),
            None => Err(Error::new(
                ErrorKind::Config,
                "this vendor cannot keep its rate budget in a rate-limit store (its \
                 `TypedVendor` lacks `with_client_options`)",
            )),
        }
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
            contextual: self.contextual,
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
