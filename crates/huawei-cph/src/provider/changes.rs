//! State changes: batch calls in chunks (`batch-stop`, `batch-restart`, `batch-reset`), their
//! bodies, and `start`, which reads states first because CPH has no start call.

use cloudphone_core::raw::merge_settled;

use cloudphone_core::raw::{ExtraOptions, Idempotency};
use cloudphone_core::{
    BatchReport, CloudPhoneProvider, Error, ErrorKind, Operation, Outcome, PhoneId, PhoneOutcome,
    PhoneState, ResetOptions, Result, StartOptions,
};
use reqwest::Method;

use super::decode::batch_answer;
use super::HuaweiCphProvider;
use crate::wire::{BatchAnswer, PhoneProperty, PhonesBody};
use crate::VENDOR;

/// A phone `start` left alone because its state could not be read first.
fn not_started(e: &Error) -> Error {
    if e.kind() == ErrorKind::NotFound || e.kind().is_auth() {
        return e.clone().with_not_applied(true);
    }
    let mut n = Error::new(
        e.kind(),
        format!(
            "not started: its state could not be read first ({})",
            e.message()
        ),
    )
    .with_vendor(VENDOR)
    .with_temporary(e.is_temporary())
    .with_not_applied(true);
    if let Some(c) = e.vendor_code() {
        n = n.with_vendor_code(c.to_owned());
    }
    if let Some(r) = e.request_id() {
        n = n.with_request_id(r.to_owned());
    }
    n
}

impl HuaweiCphProvider {
    /// Sends a batch operation in chunks; `body` builds one chunk's request body.
    pub(super) async fn batch<F>(
        &self,
        operation: Operation,
        action: &'static str,
        phones: &[PhoneId],
        body: F,
    ) -> Result<BatchReport>
    where
        F: Fn(&[PhoneId]) -> Vec<u8>,
    {
        let url = self.client.url(&["phones", action], &[])?;
        let (url, body) = (&url, &body);
        self.engine()
            .run_chunks(operation, phones, self.batch_size, |chunk| async move {
                let bytes = body(&chunk);
                let answer = self
                    .client
                    .send::<BatchAnswer>(
                        action,
                        Idempotency::StateChanging,
                        Method::POST,
                        url,
                        Some(bytes),
                    )
                    .await?;
                batch_answer(answer.value, answer.request_id, &chunk)
            })
            .await
    }

    pub(super) fn phones_body(
        image: Option<&str>,
        chunk: &[PhoneId],
        options: Option<&ResetOptions>,
    ) -> Vec<u8> {
        let phones = chunk
            .iter()
            .map(|p| {
                let props = options.map(|o| o.properties_for(p)).unwrap_or_default();
                PhoneProperty {
                    phone_id: p.as_str(),
                    property: (!props.is_empty())
                        .then(|| serde_json::to_string(&props).expect("string maps serialize")),
                }
            })
            .collect();
        serde_json::to_vec(&PhonesBody {
            image_id: image,
            phones,
        })
        .expect("plain structs serialize")
    }

    /// `start`, reading the states first (see [`CloudPhoneProvider::start`]).
    pub(super) async fn start_phones(
        &self,
        phones: &[PhoneId],
        options: &StartOptions,
    ) -> Result<BatchReport> {
        ExtraOptions::none(VENDOR, Operation::Start, &options.extras)?;
        let before = self.status(phones).await?;
        // The status report holds each distinct phone once, in request order: its slots are
        // the merge's.
        let mut to_start: Vec<PhoneId> = Vec::new();
        let mut settled: Vec<(usize, PhoneOutcome)> = Vec::new();
        let order: Vec<PhoneId> = before.outcomes.iter().map(|o| o.phone.clone()).collect();
        for (slot, o) in before.outcomes.into_iter().enumerate() {
            match &o.outcome {
                Outcome::Done if o.phone_state() == Some(PhoneState::Running) => {
                    settled.push((slot, o));
                }
                Outcome::Failed(e) | Outcome::Unknown(e) => {
                    let failed = PhoneOutcome::failed(o.phone.clone(), not_started(e));
                    settled.push((slot, failed));
                }
                _ => to_start.push(o.phone),
            }
        }
        let sent = if to_start.is_empty() {
            None
        } else {
            Some(
                self.batch(Operation::Start, "batch-restart", &to_start, |chunk| {
                    Self::phones_body(None, chunk, None)
                })
                .await,
            )
        };
        merge_settled(
            Operation::Start,
            VENDOR,
            &order,
            settled,
            sent,
            self.engine().origin(),
        )
    }
}
