//! The simulated vendors, one folder module each, and the registry: one line per vendor.

pub mod alibaba;
pub mod geelark;
pub mod huawei;

use crate::engine::VendorEntry;

/// Every vendor the simulator serves, in the order of its listeners, banner and client
/// configuration.
static REGISTRY: [VendorEntry; 3] = [
    VendorEntry::of::<geelark::Geelark>(),
    VendorEntry::of::<huawei::Huawei>(),
    VendorEntry::of::<alibaba::Alibaba>(),
];

/// The registered vendors.
pub(crate) fn registry() -> &'static [VendorEntry] {
    &REGISTRY
}
