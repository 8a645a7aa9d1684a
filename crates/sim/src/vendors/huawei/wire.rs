//! The CPH answers that carry many records (phone pages, job pages, batch answers), serialised
//! straight from the model with no `serde_json::Value` in between. Fields are declared in sorted
//! order: the bytes are those `json!` wrote (see `engine::json`).

use serde::Serialize;
use tokio::time::Instant;

use super::model::{Job, Phone};
use crate::engine::{Concat, IsoSecs, Text, VendorState};
use crate::vendors::huawei::Huawei;

/// `metadata` of a listed phone: both ids null.
#[derive(Serialize)]
struct Metadata {
    order_id: Option<()>,
    product_id: Option<()>,
}

/// A phone as `GET phones` lists it (and the base of its detail).
#[derive(Serialize)]
pub(crate) struct Listed<'a> {
    availability_zone: Text<Concat<'a>>,
    create_time: IsoSecs,
    image_id: &'a str,
    image_version: &'static str,
    imei: &'a str,
    metadata: Metadata,
    phone_id: &'a str,
    phone_model_name: &'static str,
    phone_name: &'a str,
    server_id: &'a str,
    status: i32,
    traffic_type: &'static str,
    #[serde(rename = "type")]
    kind: i32,
    update_time: IsoSecs,
    vnc_enable: &'static str,
    volume_mode: i32,
}

impl<'a> Listed<'a> {
    pub(crate) fn of(p: &'a Phone, now: Instant, region: &'a str) -> Self {
        let d = &p.data;
        Listed {
            availability_zone: Text(Concat(region, "a")),
            create_time: IsoSecs(d.created_unix),
            image_id: &d.image_id,
            image_version: "2",
            imei: &d.imei,
            metadata: Metadata {
                order_id: None,
                product_id: None,
            },
            phone_id: &p.id,
            phone_model_name: "kvm.rx1.xlarge",
            phone_name: &d.name,
            server_id: &d.server_id,
            status: p.life.status_at(now),
            traffic_type: "routing",
            kind: 0,
            update_time: IsoSecs(d.updated_unix),
            vnc_enable: "true",
            volume_mode: 0,
        }
    }
}

/// One page of `GET phones`.
#[derive(Serialize)]
pub(crate) struct PhonePage<'a> {
    pub(crate) count: usize,
    pub(crate) phones: Vec<Listed<'a>>,
    pub(crate) request_id: &'a str,
}

/// A job as `GET jobs` and `GET jobs/{id}` answer it.
#[derive(Serialize)]
pub(crate) struct ListedJob<'a> {
    begin_time: IsoSecs,
    end_time: Option<IsoSecs>,
    error_code: Option<&'static str>,
    error_msg: Option<String>,
    execute_msg: Option<&'static str>,
    job_id: &'a str,
    node_id: Option<()>,
    phone_id: &'a str,
    request_id: &'a str,
    server_id: &'a str,
    status: i32,
}

impl<'a> ListedJob<'a> {
    pub(crate) fn of(st: &'a VendorState<Huawei>, j: &'a Job, now: Instant) -> Self {
        let state = j.status_at(now);
        let phone = &st.fleet.phones[j.phone];
        let end = (state != 1).then(|| {
            let d = j.end.saturating_duration_since(j.begin);
            IsoSecs(j.begin_unix + d.as_secs() as i64)
        });
        ListedJob {
            begin_time: IsoSecs(j.begin_unix),
            end_time: end,
            error_code: (state == -1).then_some("CPS.0003"),
            error_msg: (state == -1)
                .then(|| format!("{} phone failed: Service internal error.", j.op.name())),
            execute_msg: (state == 2).then_some("success"),
            job_id: &j.job_id,
            node_id: None,
            phone_id: &phone.id,
            request_id: &j.request_id,
            server_id: &phone.data.server_id,
            status: state,
        }
    }
}

/// One page of `GET jobs`.
#[derive(Serialize)]
pub(crate) struct JobPage<'a> {
    pub(crate) jobs: Vec<ListedJob<'a>>,
    pub(crate) request_id: &'a str,
}

/// One phone's entry in a batch answer: its job, or why it has none.
#[derive(Serialize)]
pub(crate) struct BatchEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_msg: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) job_id: Option<String>,
    pub(crate) phone_id: &'a str,
}

/// A batch answer.
#[derive(Serialize)]
pub(crate) struct BatchAnswer<'a> {
    pub(crate) jobs: Vec<BatchEntry<'a>>,
    pub(crate) request_id: &'a str,
}
