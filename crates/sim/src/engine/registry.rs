//! What the simulator knows of a vendor without naming it: one [`VendorEntry`] per registered
//! vendor (`src/vendors/mod.rs`), made by [`VendorEntry::of`].

use std::any::Any;
use std::io;
use std::sync::Arc;

use axum::Router;
use serde_json::Value;

use super::control::VendorHandle;
use super::http::handle;
use super::state::{Launch, VendorSim};
use super::{SimVendor, Slots, VendorLimits};
use crate::config::SimConfig;

/// A change to a configuration (a vendor's parsed command-line flags).
pub(crate) type ConfigEdit = Arc<dyn Fn(&mut SimConfig) + Send + Sync>;

/// A started vendor: its erased and typed controls and the router of its listener.
pub(crate) struct Launched {
    pub(crate) handle: VendorHandle,
    pub(crate) typed: Box<dyn Any + Send + Sync>,
    pub(crate) router: Router,
}

/// A registered vendor, erased.
pub(crate) struct VendorEntry {
    pub(crate) type_name: &'static str,
    pub(crate) default_port: u16,
    pub(crate) slots: for<'a> fn(&'a mut SimConfig) -> Slots<'a>,
    pub(crate) set_limits_json: fn(&mut SimConfig, Value) -> Result<(), String>,
    pub(crate) limits_off: fn(&mut SimConfig),
    pub(crate) launch: fn(&mut SimConfig, Launch) -> io::Result<Launched>,
    pub(crate) augment_flags: fn(clap::Command) -> clap::Command,
    pub(crate) read_flags: fn(&clap::ArgMatches) -> Result<ConfigEdit, clap::Error>,
}

impl VendorEntry {
    /// The entry of vendor `V`.
    pub(crate) const fn of<V: SimVendor>() -> Self {
        VendorEntry {
            type_name: V::TYPE,
            default_port: V::DEFAULT_PORT,
            slots: V::slots,
            set_limits_json: set_limits_json::<V>,
            limits_off: limits_off::<V>,
            launch: launch::<V>,
            augment_flags: <V::Flags as clap::Args>::augment_args,
            read_flags: read_flags::<V>,
        }
    }

    /// The registered vendor of this type.
    pub(crate) fn find(type_name: &str) -> Option<&'static VendorEntry> {
        crate::vendors::registry()
            .iter()
            .find(|e| e.type_name == type_name)
    }

    /// The registered types, for error messages: `geelark, huawei-cph`.
    pub(crate) fn type_names() -> String {
        let names: Vec<&str> = crate::vendors::registry()
            .iter()
            .map(|e| e.type_name)
            .collect();
        names.join(", ")
    }
}

fn set_limits_json<V: SimVendor>(config: &mut SimConfig, limits: Value) -> Result<(), String> {
    V::set_limits(
        config,
        serde_json::from_value(limits).map_err(|e| e.to_string())?,
    );
    Ok(())
}

fn limits_off<V: SimVendor>(config: &mut SimConfig) {
    V::set_limits(config, V::Limits::off());
}

fn launch<V: SimVendor>(config: &mut SimConfig, launch: Launch) -> io::Result<Launched> {
    let slots = V::slots(config);
    let (phones, faults) = (*slots.phones, slots.faults.clone());
    let invalid = |what: &str, e: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} {what}: {e}", V::TYPE),
        )
    };
    let limits = V::limits(config).map_err(|e| invalid("limits", e))?;
    let sim = VendorSim::<V>::new(config, launch, phones, faults, limits)
        .map_err(|e| invalid("settings", e))?;
    let router = Router::new().fallback(handle::<V>).with_state(sim.clone());
    Ok(Launched {
        handle: Arc::new(sim.clone()),
        typed: Box::new(sim),
        router,
    })
}

fn read_flags<V: SimVendor>(matches: &clap::ArgMatches) -> Result<ConfigEdit, clap::Error> {
    let flags = <V::Flags as clap::FromArgMatches>::from_arg_matches(matches)?;
    Ok(Arc::new(move |config| {
        V::apply_flags(flags.clone(), config)
    }))
}
