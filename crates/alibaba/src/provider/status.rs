//! `status`: `DescribeAndroidInstances` per 100 ids with `MaxResults=100`, following
//! `NextToken` (absent or `""` ends it; an empty token is never sent; a repeated token, or more
//! pages than 100 ids can fill, cut it short).

use std::collections::HashSet;

use cloudphone_core::raw::Idempotency;
use cloudphone_core::{BatchReport, Operation, PhoneId, PhoneOutcome, Result};

use super::decode::status_outcomes;
use super::{AlibabaProvider, DESCRIBE_INSTANCES, EXTRA_PAGES, PAGE_SIZE};
use crate::client::Params;
use crate::wire::{self, Instance, InstancePage};

impl AlibabaProvider {
    pub(super) async fn status_of(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.engine()
            .run_chunks(Operation::Status, phones, PAGE_SIZE, |chunk| {
                self.describe_ids(chunk)
            })
            .await
    }

    /// One page of `DescribeAndroidInstances`; `brief` keeps only id, name and state of each
    /// phone (a status read), not the listing's extra fields.
    pub(super) async fn describe_page(&self, params: &Params, brief: bool) -> Result<InstancePage> {
        self.client
            .call(
                DESCRIBE_INSTANCES,
                Idempotency::ReadOnly,
                params,
                |body, _| {
                    if brief {
                        crate::wire_rows::instance_states(body)
                    } else {
                        wire::instance_page(body)
                    }
                },
            )
            .await
    }

    /// The states of up to 100 ids.
    pub(super) async fn describe_ids(&self, chunk: Vec<PhoneId>) -> Result<Vec<PhoneOutcome>> {
        let wanted: HashSet<&str> = chunk.iter().map(PhoneId::as_str).collect();
        let mut listed: Vec<Instance> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut tokens: HashSet<String> = HashSet::new();
        let mut token: Option<String> = None;
        let mut complete = false;
        for _ in 0..1 + EXTRA_PAGES {
            let params = Params::new()
                .ids("AndroidInstanceIds", &chunk)
                .set("MaxResults", PAGE_SIZE)
                .opt("NextToken", token.as_deref());
            let page = self.describe_page(&params, true).await?;
            for inst in page.instances {
                let asked = inst.id.as_deref().is_some_and(|i| wanted.contains(i));
                if asked && seen.insert(inst.id.clone().unwrap_or_default()) {
                    listed.push(inst);
                }
            }
            if seen.len() == wanted.len() {
                complete = true;
                break;
            }
            match page.next {
                None => {
                    complete = true;
                    break;
                }
                Some(next) if !tokens.insert(next.clone()) => {
                    tracing::warn!(
                        vendor = crate::VENDOR,
                        "DescribeAndroidInstances repeated a NextToken; paging stops"
                    );
                    break;
                }
                Some(next) => token = Some(next),
            }
        }
        Ok(status_outcomes(&chunk, &listed, complete))
    }
}
