//! Every CPH and IAM answer decoder on arbitrary input. The first four bytes choose the
//! decoder, the HTTP status and the list offset; the rest is the body. Any panic is a bug.
#![no_main]

use std::collections::{HashMap, HashSet};

use cloudphone_core::{JobRef, PhoneId};
use cloudphone_huawei_cph::fuzzing::{
    decode_batch, decode_detail, decode_error, decode_iam, decode_job, decode_jobs_page,
    decode_list, is_token_expired, parse_retry_after, Answer,
};
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

const STATUSES: [u16; 8] = [200, 200, 200, 400, 401, 429, 500, 204];

fuzz_target!(|data: &[u8]| {
    let [which, status, offset, limit, body @ ..] = data else {
        return;
    };
    let answer = Answer {
        http_status: STATUSES[usize::from(*status) % STATUSES.len()],
        retry_after: None,
        request_id: Some("hdr"),
        body,
    };
    match which % 8 {
        0 => drop(decode_batch(&answer)),
        1 => drop(decode_detail(&PhoneId::from("a"), &answer)),
        2 => {
            let offset = match offset {
                0 => u64::MAX,
                o => u64::from(*o) * 200,
            };
            let _ = decode_list(offset, usize::from(*limit), &answer);
        }
        3 => drop(decode_job(&JobRef::new("ja", Some("r".into())), &answer)),
        4 => {
            let mut groups: HashMap<String, HashSet<String>> = HashMap::new();
            groups.insert("r".into(), ["ja".into(), "jb".into()].into());
            groups.insert("q".into(), ["jc".into()].into());
            let _ = decode_jobs_page(&groups, &answer);
        }
        5 => {
            let token = (limit % 2 == 0).then_some("tok");
            let _ = decode_iam(&answer, token, datetime!(2024-03-01 10:00 UTC));
        }
        6 => {
            let status = u16::from_le_bytes([*offset, *limit]);
            let e = decode_error(status, None, body);
            let _ = is_token_expired(&e);
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(body) {
                let _ = parse_retry_after(s);
                let _ = decode_error(429, Some(s), b"");
            }
        }
    }
});
