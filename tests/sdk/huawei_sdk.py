#!/usr/bin/env python3
"""Drive the simulator with Huawei Cloud's official Python SDK (optional; not part of `cargo test`).

Every CPH call this project uses goes through `huaweicloudsdkcph` (PyPI) with AK/SK
(`SDK-HMAC-SHA256`) signing done by `huaweicloudsdkcore`: list phones, show phone detail, batch
reset / restart / stop, show job, list jobs (by `request_id` and by `request_ids`), and a CPS
error. Each answer must parse into the SDK's models and make sense (ids, statuses, jobs that
finish, the phone's state afterwards).

The script starts the simulator itself from the built binary (`target/debug/cloudphone-sim`, or
the path in $CLOUDPHONE_SIM), on a free port it picks, reads the credentials from the banner, and
stops it at the end. Exit status 0 = every check passed.

    python3 -m venv target/sdk-venv
    target/sdk-venv/bin/pip install huaweicloudsdkcore huaweicloudsdkcph
    cargo build -p cloudphone-sim --bin cloudphone-sim
    target/sdk-venv/bin/python tests/sdk/huawei_sdk.py

`.ci/run` does exactly this as its last step (skipped, not failed, when the packages cannot be
installed).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcph.v1 import (
    CphClient,
    ListCloudPhonesRequest,
    ListJobsRequest,
    PhoneProperty,
    ResetCloudPhoneRequest,
    ResetCloudPhoneRequestBody,
    ResetPhoneProperty,
    RestartCloudPhoneRequest,
    RestartCloudPhoneRequestBody,
    ShowCloudPhoneDetailRequest,
    ShowJobRequest,
    StopCloudPhoneRequest,
    StopCloudPhoneRequestBody,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("CLOUDPHONE_SIM", os.path.join(ROOT, "target", "debug", "cloudphone-sim"))
UNKNOWN = "1678567b8bab40f93711234cb80d0764"  # well-formed, no such phone (the seed page's id)
PROPERTY = '{"sys.prop.writephonenum":"13666666666","sys.prop.writewifissid":"test_wifi"}'

# Huawei phone statuses and job statuses (huawei-cph reference).
RUNNING, STOPPED = 2, 8
JOB_RUNNING, JOB_OK = 1, 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator():
    port = free_port()
    proc = subprocess.Popen(
        [BINARY, "--port", "huawei-cph=%d" % port, "--port", "geelark=0", "--port", "alibaba=0",
         "--time-scale", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = []
    for line in proc.stdout:
        banner.append(line)
        if line.startswith("Listeners:"):
            break
    else:
        proc.wait()
        sys.exit("the simulator did not start:\n" + "".join(banner))
    # The Huawei block of the banner: "  access key       : ..." etc.
    text = "".join(banner)
    block = text[text.index("Huawei"):text.index("Alibaba")]

    def field(name):
        return re.search(r"^\s*%s\s*:\s*(\S+)" % re.escape(name), block, re.M).group(1)

    sim = {
        "proc": proc,
        "url": "http://127.0.0.1:%d" % port,
        "ak": field("access key"),
        "sk": field("secret key"),
        "project_id": field("project id"),
    }
    assert "127.0.0.1:%d" % port in block, block
    return sim


def admin(sim, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sim["url"] + "/_sim/" + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def cph_client(sim):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    creds = BasicCredentials(sim["ak"], sim["sk"], sim["project_id"])
    return (CphClient.new_builder()
            .with_http_config(config)
            .with_credentials(creds)
            .with_endpoints([sim["url"]])
            .build())


def wait_for(what, check, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def job_of(answer, phone_id):
    jobs = [j for j in answer.jobs if j.phone_id == phone_id]
    assert len(jobs) == 1, answer
    return jobs[0]


def wait_job_and_status(client, job_id, phone_id, status):
    def done():
        job = client.show_job(ShowJobRequest(job_id=job_id))
        assert job.status in (JOB_RUNNING, JOB_OK), job
        phone = client.show_cloud_phone_detail(ShowCloudPhoneDetailRequest(phone_id=phone_id))
        return job.status == JOB_OK and phone.status == status
    wait_for("job %s and phone %s at %d" % (job_id, phone_id, status), done)


def run(sim):
    client = cph_client(sim)

    # List phones: count and one page, newest first, each a parsed Phone model.
    listing = client.list_cloud_phones(ListCloudPhonesRequest(offset=0, limit=100))
    assert listing.count == 20 and len(listing.phones) == 20, listing
    assert listing.request_id, listing
    ids = [p.phone_id for p in listing.phones]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert all(isinstance(p.status, int) for p in listing.phones)
    page = client.list_cloud_phones(ListCloudPhonesRequest(offset=5, limit=5))
    assert [p.phone_id for p in page.phones] == ids[5:10], page
    p_reset, p_restart, p_stop = ids[:3]
    for phone in (p_reset, p_restart, p_stop):
        admin(sim, "PUT", "phones/%s/status" % phone, {"status": RUNNING})

    # Phone detail: the flat object, the SDK model's fields.
    detail = client.show_cloud_phone_detail(ShowCloudPhoneDetailRequest(phone_id=p_reset))
    assert detail.phone_id == p_reset and detail.status == RUNNING, detail
    assert detail.phone_name and detail.server_id and detail.request_id, detail
    assert isinstance(detail.has_encrypt, bool), detail
    before = detail.update_time

    # Batch reset: one job for the known phone, CPS.0004 for the unknown one (HTTP 200).
    reset = client.reset_cloud_phone(ResetCloudPhoneRequest(body=ResetCloudPhoneRequestBody(
        phones=[ResetPhoneProperty(phone_id=p_reset, _property=PROPERTY),
                ResetPhoneProperty(phone_id=UNKNOWN)])))
    assert reset.request_id, reset
    ok, bad = job_of(reset, p_reset), job_of(reset, UNKNOWN)
    assert ok.job_id and not ok.error_code, reset
    assert bad.error_code == "CPS.0004" and not bad.job_id, reset
    assert bad.error_msg == "Parameter: phone_id is invalid.", reset

    # Show job: the creating request's id; list jobs by request_id.
    job = client.show_job(ShowJobRequest(job_id=ok.job_id))
    assert job.job_id == ok.job_id and job.phone_id == p_reset, job
    assert job.request_id == reset.request_id, job
    jobs = client.list_jobs(ListJobsRequest(request_id=reset.request_id))
    assert [j.job_id for j in jobs.jobs] == [ok.job_id], jobs
    wait_job_and_status(client, ok.job_id, p_reset, RUNNING)
    detail = client.show_cloud_phone_detail(ShowCloudPhoneDetailRequest(phone_id=p_reset))
    assert json.loads(detail._property) == json.loads(PROPERTY), detail._property
    assert detail.update_time != before, (before, detail.update_time)

    # Batch restart and batch stop (phone_ids, not phones).
    restart = client.restart_cloud_phone(RestartCloudPhoneRequest(body=RestartCloudPhoneRequestBody(
        phones=[PhoneProperty(phone_id=p_restart)])))
    r_job = job_of(restart, p_restart)
    assert r_job.job_id and not r_job.error_code, restart
    stop = client.stop_cloud_phone(StopCloudPhoneRequest(body=StopCloudPhoneRequestBody(
        phone_ids=[p_stop])))
    s_job = job_of(stop, p_stop)
    assert s_job.job_id and not s_job.error_code, stop
    wait_job_and_status(client, r_job.job_id, p_restart, RUNNING)
    wait_job_and_status(client, s_job.job_id, p_stop, STOPPED)

    # List jobs by several request ids (comma-separated).
    jobs = client.list_jobs(ListJobsRequest(
        request_ids="%s,%s" % (restart.request_id, stop.request_id), offset=0, limit=100))
    assert sorted(j.job_id for j in jobs.jobs) == sorted([r_job.job_id, s_job.job_id]), jobs
    assert all(j.status == JOB_OK for j in jobs.jobs), jobs

    # A CPS error arrives as the SDK's ClientRequestException with the code and message.
    try:
        client.show_cloud_phone_detail(ShowCloudPhoneDetailRequest(phone_id=UNKNOWN))
        raise AssertionError("an unknown phone was found")
    except ClientRequestException as e:
        assert e.status_code == 400 and e.error_code == "CPS.0005", (e.status_code, e.error_code)

    # Every call above was signed by the SDK and accepted: the simulator's call log saw them.
    calls = admin(sim, "GET", "calls")
    assert calls, calls


def main():
    sim = start_simulator()
    try:
        run(sim)
    finally:
        sim["proc"].send_signal(signal.SIGINT)
        try:
            sim["proc"].wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim["proc"].kill()
    print("huawei SDK against the simulator: ok (huaweicloudsdkcph: list phones, phone detail, "
          "batch reset/restart/stop, show job, list jobs, errors)")


if __name__ == "__main__":
    main()
