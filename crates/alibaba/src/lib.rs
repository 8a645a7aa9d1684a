//! Alibaba Cloud Cloud Phone (Wuying / Elastic Cloud Phone, product `eds-aic`, API
//! `2023-09-30`) for [cloudphone](https://docs.rs/cloudphone): [`AlibabaProvider`] implements
//! [`cloudphone_core::CloudPhoneProvider`] over the RPC API.
//!
//! - Transport: `POST /` to the site's central endpoint (`eds-aic.cn-shanghai.aliyuncs.com` for
//!   China-site accounts, `eds-aic.ap-southeast-1.aliyuncs.com` for international ones,
//!   whatever region the phones are in; `endpoint` overrides it), the action in
//!   `x-acs-action`, every parameter in the query with lists flattened (`AndroidInstanceIds.1`),
//!   an empty body.
//! - Authentication: AccessKey `ACS3-HMAC-SHA256` signatures ([`signer`], reproducing every
//!   test vector of Alibaba's SDK), STS tokens (`security_token`); a fresh `x-acs-date` and
//!   nonce on every attempt.
//! - status: `DescribeAndroidInstances` per 100 ids with `MaxResults=100`, following
//!   `NextToken`; an id it does not list is not found.
//! - stop / start: `StopAndroidInstance` / `StartAndroidInstance` (answering only a
//!   `RequestId`, which becomes the phones' job); restart: `RebootAndroidInstancesInGroup`;
//!   reset: `ResetAndroidInstancesInGroup`; reset with an image:
//!   `UpdateInstanceImage(InstanceIdList, ImageId, Reset=true)` (`reimage`); restart and reset
//!   jobs are their child `TaskId`s. Chunks of `batch_size` (≤ 100). `ForceStop` is the
//!   `force_stop` setting, or [`AlibabaProvider::force_stop`].
//! - The documented preconditions ([`CheckStates`], `check_states`): by default every phone is
//!   sent and a chunk's states are read only when the vendor refuses the whole chunk (for a
//!   state or an unknown id), then the phones they allow are sent once more; a failed instance
//!   task is judged by the state it reports (a stop of a `STOPPED` phone is done). With
//!   `"first"` the states are read before every change: a stop of a `STOPPED` phone is done
//!   with no call, a restart of a `STOPPED` one fails with none.
//! - `jobs` and `wait`: `DescribeTasks` (`MaxResults=100`: the default is 10) by `TaskIds` or
//!   `InvokeId`, then the states; the 15 string states are mapped ([`phone_state`]) with the raw
//!   string kept.
//! - Errors by `Code` ([`ErrorKind`](cloudphone_core::ErrorKind), the code kept): throttling
//!   (`Throttling*`, honouring `x-acs-retry-after` in milliseconds) retried, credential
//!   refusals (`InvalidAccessKeyId.*`, `SignatureDoesNotMatch`, `IncompleteSignature`,
//!   `InvalidTimeStamp.*`, `InvalidSecurityToken.*`) never — nothing more is sent after one —
//!   `SignatureNonceUsed` sent once more with a new nonce, `ServiceUnavailable`/`InternalError`
//!   retried for reads. A request-level 4xx fails its chunk; an instance task that fails fails
//!   its phone.
//! - No change has an idempotency token: a stop, start, restart or reset whose answer was lost
//!   (a timeout, a cut connection, a 5xx, an undecodable answer) is *unknown* and never sent
//!   again; a wait looks at the phone.
//! - A client-side budget of `rate_limit_per_second` calls per action (default 10), the shared
//!   HTTP client (no redirects, bodies capped at `max_body_bytes`), secrets scrubbed from every
//!   error.
//!
//! # Decisions on what the reference leaves open
//!
//! The vendor reference marks these *unconfirmed*; each is tolerant or configurable:
//!
//! | item | decision |
//! |---|---|
//! | booleans `True` (Python SDK) or `true` (Go SDK) | lower-case `true`/`false` are sent; the signer signs whatever it is given, so the SDK's vectors reproduce |
//! | wire query = canonical query (`%20`) | the canonical query is sent as is (what is signed is what is sent) |
//! | ids per power/reset call | `batch_size`, 1–100, default 100 |
//! | an unknown id in a status read | absent from the answer → [`NotFound`](cloudphone_core::ErrorKind::NotFound) (when the paging ended; cut-short paging leaves it missing, to be read again) |
//! | a state the preconditions refuse: request error or task failure | both handled: a chunk refused for a state or an unknown id is read and what its states allow sent once more (`check_states = "on-refusal"`, the default; a refusal the states do not explain stands), a failed instance task is judged by the state it reports; `"first"` reads before sending and avoids sending such phones at all |
//! | `Tasks` in reboot/reset answers | optional: a phone without a child task gets the request id as its job |
//! | levels an `InvokeId` query returns | `Level=2` is asked for and rows are matched by `InstanceId`; finding none, the wait polls states |
//! | `TaskStatus` beyond `Processing`/`Finished` | a status naming a failure (`Failed`, …) or `Finished` with an `ErrorCode` fails; unknown statuses count as running, kept raw, and the state is polled after the task |
//! | `TaskType` names | never filtered on |
//! | states outside the 15 (image-change failed, …) | [`PhoneState::Unknown`](cloudphone_core::PhoneState::Unknown), raw kept; a change is sent (the vendor judges) |
//! | `BACKUPING`, `RECOVERING`, `DELETING`, `BACKUP_FAILED`, `RECOVER_FAILED` | `Unknown` with the raw string (no power state); `FAILED`, `UNAVAILABLE`, `DELETED` are `Failed` (a wait stops) |
//! | final state after a reset | `RUNNING` (the operation's default target; pass another to `wait`) |
//! | re-imaging outside the matrix / international site | `reimage`: default on for `cn-shanghai`, off for `ap-southeast-1` (then `Unsupported`, nothing sent) |
//! | eds-aic error codes | classified by pattern: `…NotFound`/`…NotExist` not found, `…Status…`/`…State…` invalid state, `Invalid…`/`Missing…` invalid argument, else by HTTP status |
//! | `x-acs-retry-after` | honoured (milliseconds) when sent, capped by `retry_max_delay_ms`; else the standard `Retry-After` |
//! | `x-acs-request-id` header | read when the body carries no `RequestId` |
//! | `GmtCreate` time zone | kept verbatim in a listed phone's extras |
//! | the `eds-aic-vpc` endpoint | not built; `endpoint` reaches any |
//! | API quotas | `rate_limit_per_second`, default 10 per action (a guess, not a published figure) |
//!
//! ```no_run
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use cloudphone_alibaba::{AlibabaConfig, AlibabaProvider};
//! use cloudphone_core::{CloudPhoneProvider, PhoneId, ResetOptions, WaitOptions};
//!
//! let config = AlibabaConfig::new("cn-shanghai", "LTAI-example", "secret".to_owned());
//! let ali = AlibabaProvider::new(config)?;
//! let phones: Vec<PhoneId> = vec!["acp-25nt4kk9whhok0001".into()];
//! let report = ali.reset(&phones, &ResetOptions::default()).await?;
//! let done = ali.wait(&report, &WaitOptions::default()).await?;
//! println!("{:?}", done.summary());
//! # Ok(())
//! # }
//! ```

mod client;
pub mod clock;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod provider;
pub mod signer;
mod wire;
mod wire_rows;

pub use clock::{Clock, SystemClock};
pub use config::{AlibabaConfig, CheckStates, DEFAULT_SITE, SITES};
pub use provider::{
    AlibabaProvider, AlibabaProviderBuilder, DESCRIBE_INSTANCES, DESCRIBE_TASKS, PAGE_SIZE, REBOOT,
    RESET, START, STOP, UPDATE_IMAGE,
};
pub use wire::{job_state, parse_acs_retry_after, phone_state, INSTANCE_STATES};

/// The vendor name every error and report of this crate carries (`type = "alibaba"`).
pub const VENDOR: &str = "alibaba";

/// This backend for the vendor registry: `type = "alibaba"`, its secret keys, how a
/// configuration table becomes a provider. The facade registers it in one line.
pub const fn vendor() -> cloudphone_core::raw::registry::TypedVendor<AlibabaConfig> {
    cloudphone_core::raw::registry::TypedVendor::new(
        VENDOR,
        &["secret_key", "security_token"],
        |c: &AlibabaConfig| Ok(std::sync::Arc::new(AlibabaProvider::new(c.clone())?)),
    )
    .with_urls(|c: &AlibabaConfig| {
        c.endpoint
            .clone()
            .map(|e| ("endpoint", e))
            .into_iter()
            .collect()
    })
}
