//! The eds-aic answers that carry many records (`DescribeAndroidInstances`, `DescribeTasks`,
//! the change answers), serialised straight from the model with no `serde_json::Value` in
//! between. Fields are declared in sorted order: the bytes are those `json!` wrote (see
//! `engine::json`).

use serde::Serialize;
use tokio::time::Instant;

use super::model::{task_status, Phone, Task};
use super::{status, Alibaba};
use crate::engine::{Concat, IsoSecs, SpacedSecs, Text, VendorState};

/// `Disks[]` of an instance: one 32 GiB data disk.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Disk {
    disk_size: u32,
    disk_type: &'static str,
}

/// `DisplayConfig` of an instance.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Display {
    dpi: u32,
    fps: u32,
    lock_resolution: &'static str,
    resolution_height: u32,
    resolution_width: u32,
}

/// The group name's distinctive part: characters 3..8 of the group id (as `format!` sliced it).
fn group_part(group_id: &str) -> &str {
    group_id.get(3..8).unwrap_or("")
}

/// An instance as `DescribeAndroidInstances` lists it (`InstanceModel[]`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Instance<'a> {
    android_instance_group_id: &'a str,
    android_instance_group_name: Text<Concat<'a>>,
    android_instance_id: &'a str,
    android_instance_name: &'a str,
    android_instance_status: Text<status::Name>,
    charge_type: &'static str,
    cpu: &'static str,
    disks: [Disk; 1],
    display_config: Display,
    error_code: &'static str,
    gmt_create: SpacedSecs,
    gmt_expired: &'static str,
    gmt_modified: SpacedSecs,
    image_id: &'a str,
    image_version: &'static str,
    instance_type: &'static str,
    internet_status: &'static str,
    key_pair_id: &'static str,
    memory: u32,
    network_interface_ip: &'static str,
    network_type: &'static str,
    office_site_id: Text<Concat<'a>>,
    policy_group_id: &'static str,
    public_ip_address: &'static str,
    rate: u32,
    region_id: &'a str,
    session_status: &'static str,
    system_version: &'static str,
    tags: [(); 0],
    zone_id: Text<Concat<'a>>,
}

impl<'a> Instance<'a> {
    pub(crate) fn of(p: &'a Phone, now: Instant) -> Self {
        let d = &p.data;
        Instance {
            android_instance_group_id: &d.group_id,
            android_instance_group_name: Text(Concat("sim-group-", group_part(&d.group_id))),
            android_instance_id: &p.id,
            android_instance_name: &d.name,
            android_instance_status: Text(status::Name(p.life.status_at(now))),
            charge_type: "PostPaid",
            cpu: "4",
            disks: [Disk {
                disk_size: 32,
                disk_type: "DataDisk",
            }],
            display_config: Display {
                dpi: 240,
                fps: 30,
                lock_resolution: "on",
                resolution_height: 1280,
                resolution_width: 720,
            },
            error_code: "",
            gmt_create: SpacedSecs(d.created_unix),
            gmt_expired: "",
            gmt_modified: SpacedSecs(d.created_unix),
            image_id: &d.image_id,
            image_version: "",
            instance_type: "acp.basic.small",
            internet_status: "AVAILABLE",
            key_pair_id: "",
            memory: 8192,
            network_interface_ip: "10.0.0.8",
            network_type: "Private",
            office_site_id: Text(Concat(&d.region_id, "+dir-0000000001")),
            policy_group_id: "pg-0000sim0000policy",
            public_ip_address: "",
            rate: 0,
            region_id: &d.region_id,
            session_status: "disconnect",
            system_version: "Android 12",
            tags: [],
            zone_id: Text(Concat(&d.region_id, "-i")),
        }
    }
}

/// One page of `DescribeAndroidInstances`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InstancePage<'a> {
    pub(crate) instance_model: Vec<Instance<'a>>,
    pub(crate) next_token: String,
    pub(crate) request_id: &'a str,
    pub(crate) total_count: usize,
}

/// A task as `DescribeTasks` lists it (`Data[]`): the instance fields for a phone's task
/// (level 2), the child counts for a call's (level 1).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Listed<'a> {
    creator: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_msg: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_child_count: Option<usize>,
    finish_time: Finish,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_status: Option<Text<status::Name>>,
    invoke_id: &'a str,
    level: u8,
    param: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_task_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    running_child_count: Option<usize>,
    start_time: IsoSecs,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_child_count: Option<usize>,
    task_id: &'a str,
    task_status: &'static str,
    task_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_child_count: Option<usize>,
}

/// `FinishTime`: the finish time, or `""` while the task runs.
struct Finish(Option<IsoSecs>);

impl Serialize for Finish {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(t) => t.serialize(s),
            None => s.serialize_str(""),
        }
    }
}

impl<'a> Listed<'a> {
    pub(crate) fn of(st: &'a VendorState<Alibaba>, t: &'a Task, now: Instant) -> Self {
        let status = task_status(st, t, now);
        let finish = Finish((status != "Processing").then(|| {
            let d = t.end.saturating_duration_since(t.begin);
            IsoSecs(t.begin_unix + d.as_secs() as i64)
        }));
        let mut v = Listed {
            creator: "sim",
            error_code: None,
            error_msg: None,
            failed_child_count: None,
            finish_time: finish,
            instance_id: None,
            instance_name: None,
            instance_status: None,
            invoke_id: &t.invoke_id,
            level: t.level,
            param: "",
            parent_task_id: t.parent.map(|p| st.model.tasks[p].task_id.as_str()),
            resource_id: None,
            result: None,
            running_child_count: None,
            start_time: IsoSecs(t.begin_unix),
            success_child_count: None,
            task_id: &t.task_id,
            task_status: status,
            task_type: t.op.task_type(),
            total_child_count: None,
        };
        if let Some(pi) = t.phone {
            let p = &st.fleet.phones[pi];
            let failed = status == "Failed";
            let f = t.failure.as_ref().filter(|_| failed);
            v.instance_id = Some(&p.id);
            v.resource_id = Some(&p.id);
            v.instance_name = Some(&p.data.name);
            v.instance_status = Some(Text(status::Name(p.life.status_at(now))));
            v.error_code = Some(f.map(|f| f.code).unwrap_or_default());
            v.error_msg = Some(f.map(|f| f.message.as_str()).unwrap_or_default());
            v.result = Some(if status == "Finished" {
                "{\"Success\": true}"
            } else {
                ""
            });
        } else {
            let (mut ok, mut failed, mut running) = (0, 0, 0);
            for &c in &t.children {
                match task_status(st, &st.model.tasks[c], now) {
                    "Finished" => ok += 1,
                    "Failed" => failed += 1,
                    _ => running += 1,
                }
            }
            v.total_child_count = Some(t.children.len());
            v.success_child_count = Some(ok);
            v.failed_child_count = Some(failed);
            v.running_child_count = Some(running);
        }
        v
    }
}

/// One page of `DescribeTasks`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaskPage<'a> {
    pub(crate) data: Vec<Listed<'a>>,
    pub(crate) next_token: String,
    pub(crate) request_id: &'a str,
    pub(crate) total_count: usize,
}

/// One phone's task in a reboot, reset or re-image answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChildTask<'a> {
    pub(crate) instance_id: &'a str,
    pub(crate) task_id: &'a str,
}

/// `Tasks` of a reboot, reset or re-image answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Tasks<'a> {
    pub(crate) child_tasks: Vec<ChildTask<'a>>,
    pub(crate) parent_task_id: &'a str,
}

/// The answer of a change: the request id alone (start, stop), or with its tasks.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangeAnswer<'a> {
    pub(crate) request_id: &'a str,
    /// The parent task again, in a re-image answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) task_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tasks: Option<Tasks<'a>>,
}
