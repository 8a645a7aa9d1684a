//! `list_page`: `DescribeAndroidInstances` without ids, the vendor's opaque `NextToken` as the
//! cursor, `BizRegionId` when a region is configured.

use cloudphone_core::{Error, ErrorKind, ListRequest, PhonePage, Result};

use super::decode::list_page_of;
use super::{AlibabaProvider, PAGE_SIZE};
use crate::client::Params;
use crate::VENDOR;

impl AlibabaProvider {
    pub(super) async fn list(&self, request: &ListRequest) -> Result<PhonePage> {
        let size = request.page_size.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE);
        let cursor = request.cursor.as_deref();
        if cursor.is_some_and(|c| c.trim().is_empty()) {
            // An empty NextToken would restart the listing from the first page.
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "an empty list cursor is not a NextToken (the listing ended)",
            )
            .with_vendor(VENDOR));
        }
        let params = Params::new()
            .set("MaxResults", size)
            .opt("NextToken", cursor)
            .opt("BizRegionId", self.region.as_deref());
        let page = self.describe_page(&params, false).await?;
        Ok(list_page_of(page, cursor))
    }
}
