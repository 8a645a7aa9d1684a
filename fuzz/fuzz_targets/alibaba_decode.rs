//! Every eds-aic answer decoder on arbitrary input. The first three bytes choose the decoder,
//! the HTTP status and the action; the rest is the body. Any panic is a bug.
#![no_main]

use cloudphone_alibaba::fuzzing::{
    decode_change, decode_error, decode_list, decode_status, decode_tasks, Answer,
};
use cloudphone_alibaba::{parse_acs_retry_after, REBOOT, RESET, START, STOP, UPDATE_IMAGE};
use cloudphone_core::{JobRef, PhoneId};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 200, 200, 400, 403, 404, 500, 503];
const ACTIONS: [&str; 5] = [START, STOP, REBOOT, RESET, UPDATE_IMAGE];

fuzz_target!(|data: &[u8]| {
    let [which, status, action, body @ ..] = data else {
        return;
    };
    let answer = Answer {
        http_status: STATUSES[usize::from(*status) % STATUSES.len()],
        retry_after: None,
        request_id: Some("hdr"),
        body,
    };
    let chunk = [PhoneId::from("acp-a"), PhoneId::from("acp-b")];
    match which % 6 {
        0 => drop(decode_status(&chunk, &answer)),
        1 => drop(decode_list(Some("tok"), &answer)),
        2 => {
            let action = ACTIONS[usize::from(*action) % ACTIONS.len()];
            let _ = decode_change(action, &chunk, &answer);
        }
        3 => {
            let _ = decode_tasks(&JobRef::new("t-a", Some("r".into())), &answer);
            let _ = decode_tasks(&JobRef::new("r", Some("r".into())), &answer);
        }
        4 => drop(decode_error(&answer)),
        _ => {
            if let Ok(s) = std::str::from_utf8(body) {
                let _ = parse_acs_retry_after(s);
                let _ = decode_error(&Answer {
                    http_status: 400,
                    retry_after: Some(s),
                    request_id: None,
                    body: b"",
                });
            }
        }
    }
});
