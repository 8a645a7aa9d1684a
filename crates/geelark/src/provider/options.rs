//! GeeLark's operation options: `start` takes width, center and energySavingMode; `reset`
//! (one-click new machine) takes what to keep.

use cloudphone_core::raw::ExtraOptions;
use cloudphone_core::{Error, ErrorKind, Extras, Operation, ResetOptions, Result};

use crate::{wire, VENDOR};

/// Validated `start` options: width, center, energySavingMode.
pub(super) fn start_options(extras: &Extras) -> Result<(Option<u64>, Option<u8>, Option<u8>)> {
    let o = ExtraOptions::new(
        VENDOR,
        Operation::Start,
        extras,
        &["width", "center", "energySavingMode"],
    )?;
    Ok((
        o.u64_in("width", 200..=600)?,
        o.flag("center")?,
        o.flag("energySavingMode")?,
    ))
}

/// Validated `reset` options; GeeLark's one-click new machine takes no image or properties.
pub(super) fn new_one_options(options: &ResetOptions) -> Result<wire::NewOneOptions> {
    let unsupported = |what: &str| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("geelark's one-click new machine does not support reset option `{what}`"),
        )
        .with_vendor(VENDOR)
    };
    if options.image.is_some() {
        return Err(unsupported("image"));
    }
    if !options.properties.is_empty() {
        return Err(unsupported("properties"));
    }
    if !options.phone_properties.is_empty() {
        return Err(unsupported("phone_properties"));
    }
    let o = ExtraOptions::new(
        VENDOR,
        Operation::Reset,
        &options.extras,
        &[
            "changeBrandModel",
            "keepNetType",
            "keepPhoneNumber",
            "keepRegion",
            "keepLanguage",
        ],
    )?;
    Ok(wire::NewOneOptions {
        change_brand_model: o.bool("changeBrandModel")?,
        keep_net_type: o.bool("keepNetType")?,
        keep_phone_number: o.bool("keepPhoneNumber")?,
        keep_region: o.bool("keepRegion")?,
        keep_language: o.bool("keepLanguage")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudphone_core::StartOptions;

    #[test]
    fn start_options_are_validated() {
        let ok = StartOptions::default()
            .extra("width", 300)
            .extra("center", 1)
            .extra("energySavingMode", false);
        assert_eq!(
            start_options(&ok.extras).unwrap(),
            (Some(300), Some(1), Some(0))
        );
        for (k, v) in [("width", 199), ("width", 601), ("center", 2)] {
            let e = start_options(&StartOptions::default().extra(k, v).extras).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains(k), "{}", e.message());
        }
        let e = start_options(&StartOptions::default().extra("colour", 1).extras).unwrap_err();
        assert!(e.message().contains("`colour`"), "{}", e.message());
    }
}
