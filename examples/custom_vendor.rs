//! A backend written outside this workspace, plugged in through configuration.
//!
//! The vendor here is a toy (phones kept in memory), but it is wired exactly as a real one: a
//! serde configuration struct, a provider built on the shared `BatchEngine` (`cloudphone::raw`), a
//! [`TypedVendor`] naming its `type` and secret keys, one `register` line — and from then on
//! `type = "toy"` in a configuration file is a provider like any other, in a [`Fleet`] with the
//! built-in vendors. `cargo run --example custom_vendor`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cloudphone::registry::TypedVendor;
use cloudphone::{
    async_trait, builtin_registry, BatchEngine, BatchReport, Capabilities, CloudPhoneProvider,
    Config, EngineConfig, Error, ErrorKind, Fleet, ObservedState, Operation, PhoneId, PhoneOutcome,
    PhoneRef, PhoneState, ResetOptions, Result,
};

/// `[providers.NAME] type = "toy"`: the keys this vendor takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ToyConfig {
    /// Phones the toy account holds.
    phones: Vec<String>,
    /// A credential, to show a secret key (never printed: see the `Debug` of the provider).
    api_key: String,
}

/// The provider: states in memory, every batch through the shared engine (dedupe, chunking,
/// one outcome per phone, credential rules, progress events).
#[derive(Debug)]
struct Toy {
    states: Mutex<HashMap<PhoneId, PhoneState>>,
    engine: BatchEngine,
    capabilities: Capabilities,
}

impl Toy {
    fn new(c: &ToyConfig) -> Result<Self> {
        if c.api_key.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "key `api_key` must not be empty",
            ));
        }
        let engine = BatchEngine::new("toy", EngineConfig::default());
        // Secrets the vendor might echo are scrubbed from every error.
        engine.scrubber().add(&c.api_key);
        let mut capabilities = Capabilities::default();
        capabilities.operations = [Operation::Status, Operation::Stop, Operation::Reset]
            .into_iter()
            .collect();
        let states = c
            .phones
            .iter()
            .map(|p| (PhoneId::from(p.as_str()), PhoneState::Running))
            .collect();
        Ok(Toy {
            states: Mutex::new(states),
            engine,
            capabilities,
        })
    }

    async fn apply(
        &self,
        op: Operation,
        phones: &[PhoneId],
        to: PhoneState,
    ) -> Result<BatchReport> {
        self.engine
            .run_chunks(op, phones, 50, |chunk| async move {
                let mut states = self.states.lock().unwrap();
                Ok(chunk
                    .into_iter()
                    .map(|id| match states.get_mut(&id) {
                        Some(s) => {
                            *s = to;
                            PhoneOutcome::done(id).with_state(ObservedState::new(to, to.as_str()))
                        }
                        None => PhoneOutcome::failed(
                            id,
                            Error::new(ErrorKind::NotFound, "no such toy phone"),
                        ),
                    })
                    .collect())
            })
            .await
    }
}

#[async_trait]
impl CloudPhoneProvider for Toy {
    fn vendor(&self) -> &'static str {
        "toy"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.engine
            .run_chunks(Operation::Status, phones, 50, |chunk| async move {
                let states = self.states.lock().unwrap();
                Ok(chunk
                    .into_iter()
                    .map(|id| match states.get(&id) {
                        Some(&s) => {
                            PhoneOutcome::done(id).with_state(ObservedState::new(s, s.as_str()))
                        }
                        None => PhoneOutcome::failed(
                            id,
                            Error::new(ErrorKind::NotFound, "no such toy phone"),
                        ),
                    })
                    .collect())
            })
            .await
    }

    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.apply(Operation::Stop, phones, PhoneState::Stopped)
            .await
    }

    async fn reset(&self, phones: &[PhoneId], _options: &ResetOptions) -> Result<BatchReport> {
        self.apply(Operation::Reset, phones, PhoneState::Running)
            .await
    }
}

/// The vendor for the registry: its `type`, its secret keys, how a table becomes a provider.
const fn toy_vendor() -> TypedVendor<ToyConfig> {
    TypedVendor::new("toy", &["api_key"], |c: &ToyConfig| {
        Ok(Arc::new(Toy::new(c)?))
    })
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    run().await
}

/// `cargo test --example custom_vendor` (and the workspace tests) run this too.
#[cfg(test)]
#[tokio::test]
async fn a_vendor_from_outside_the_workspace_works_through_configuration() {
    run().await.unwrap();
}

async fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // The built-in vendors plus ours: one line.
    let mut registry = builtin_registry();
    registry.register(Arc::new(toy_vendor()));

    let doc = r#"
        [providers.play]
        type = "toy"
        phones = ["t-1", "t-2"]
        api_key = "${TOY_KEY}"
    "#;
    let env = |v: &str| (v == "TOY_KEY").then(|| "toy-secret-key".to_owned());
    let config = Config::from_toml_str_with(&registry, doc, &env)?;
    let fleet = Fleet::from_config(&config)?;

    let phones: Vec<PhoneRef> = ["play/t-1", "play/t-2", "play/t-3"]
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_>>()?;
    let stopped = fleet.stop(&phones).await?;
    for o in &stopped.outcomes {
        let what = match o.outcome.cause() {
            None => format!("{:?}", o.outcome.phone_state()),
            Some(e) => e.to_string(),
        };
        println!(
            "{}/{}: {} {what}",
            o.provider,
            o.outcome.phone,
            o.outcome.outcome.as_str()
        );
    }
    let s = stopped.summary();
    assert_eq!((s.succeeded, s.failed), (2, 1), "t-3 is not a toy phone");

    // An unknown type names every registered one.
    let err = Config::from_toml_str_with(&registry, "[providers.x]\ntype = \"nope\"\n", &env)
        .unwrap_err();
    println!("{err}");
    assert!(err.to_string().contains("toy"));
    Ok(())
}
