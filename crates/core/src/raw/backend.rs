//! Small pieces of a backend's shape that every vendor would otherwise write again: its
//! capabilities and its rate budgets from configuration, and the plumbing of its embedded
//! [`ClientOptions`](crate::ClientOptions).

use crate::{Capabilities, Operation, RateBudget};

/// The capabilities of a backend that offers each operation of `batch_sizes` (phones per
/// vendor call; 1 where the vendor takes one id per call; the page size for
/// [`Operation::List`]), and [`Operation::Wait`], which every backend offers (the trait's
/// status polling at least). With `jobs`, accepted operations carry vendor job references and
/// [`Operation::Jobs`] is offered.
pub fn capabilities(
    batch_sizes: impl IntoIterator<Item = (Operation, usize)>,
    rate_limits: Vec<RateBudget>,
    jobs: bool,
) -> Capabilities {
    let mut c = Capabilities::default();
    c.batch_sizes = batch_sizes.into_iter().collect();
    c.operations = c.batch_sizes.keys().copied().collect();
    c.operations.insert(Operation::Wait);
    if jobs {
        c.operations.insert(Operation::Jobs);
    }
    c.rate_limits = rate_limits;
    c.jobs = jobs;
    c
}

/// The configured budgets, leaving out those set to 0 (off).
pub fn rate_budgets(budgets: impl IntoIterator<Item = RateBudget>) -> Vec<RateBudget> {
    budgets.into_iter().filter(|b| b.limit > 0).collect()
}

/// Plumbs a vendor configuration's `client: ClientOptions` field: `Deref`/`DerefMut` to it (so
/// `config.timeout_secs` reads the shared key), and the function `client_options` that reads it
/// from the same flat table with the vendor's defaults, for
/// `#[serde(flatten, deserialize_with = "client_options")]`. Unknown keys are then refused by
/// it, naming the key and listing `keys` (the vendor's own) with the shared ones.
///
/// ```
/// use cloudphone_core::ClientOptions;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// pub struct ToyConfig {
///     #[serde(default)]
///     pub phones: usize,
///     #[serde(flatten, deserialize_with = "client_options")]
///     pub client: ClientOptions,
/// }
///
/// cloudphone_core::client_options_field!(
///     ToyConfig,
///     defaults = ClientOptions::new().with_concurrency(2),
///     keys = &["phones"],
/// );
///
/// let c: ToyConfig = toml::from_str("phones = 3\ntimeout_secs = 5").unwrap();
/// assert_eq!((c.phones, c.timeout_secs, c.concurrency), (3, 5, 2));
/// assert!(toml::from_str::<ToyConfig>("phonez = 3").is_err());
/// ```
#[macro_export]
macro_rules! client_options_field {
    ($config:ty, defaults = $defaults:expr, keys = $keys:expr $(,)?) => {
        impl ::std::ops::Deref for $config {
            type Target = $crate::ClientOptions;

            fn deref(&self) -> &$crate::ClientOptions {
                &self.client
            }
        }

        impl ::std::ops::DerefMut for $config {
            fn deref_mut(&mut self) -> &mut $crate::ClientOptions {
                &mut self.client
            }
        }

        fn client_options<'de, D: $crate::raw::__serde::Deserializer<'de>>(
            deserializer: D,
        ) -> ::std::result::Result<$crate::ClientOptions, D::Error> {
            $crate::ClientOptions::deserialize_flat(deserializer, $defaults, $keys)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_the_batch_sizes() {
        let c = capabilities(
            [(Operation::Status, 50), (Operation::Reset, 1)],
            rate_budgets([RateBudget::per_minute(0), RateBudget::per_hour(5)]),
            false,
        );
        let ops: Vec<Operation> = c.operations.iter().copied().collect();
        assert_eq!(ops.len(), 3);
        assert!(c.supports(Operation::Wait) && !c.supports(Operation::Jobs) && !c.jobs);
        assert_eq!(c.batch_sizes[&Operation::Status], 50);
        assert_eq!(c.rate_limits, vec![RateBudget::per_hour(5)]);
        let c = capabilities([(Operation::Stop, 10)], Vec::new(), true);
        assert!(c.supports(Operation::Jobs) && c.jobs);
    }
}
