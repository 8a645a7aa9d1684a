//! Every GeeLark answer decoder on arbitrary input. The first four bytes choose the decoder,
//! the HTTP status, the page and the clock; the rest is the body. Any panic is a bug.
#![no_main]

use cloudphone_core::{Operation, PhoneId};
use cloudphone_geelark::fuzzing::{
    decode_ack, decode_auth, decode_batch, decode_list, parse_retry_after, Answer,
};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 200, 200, 400, 401, 429, 500, 204];

fuzz_target!(|data: &[u8]| {
    let [which, status, page, ts, body @ ..] = data else {
        return;
    };
    let answer = Answer {
        http_status: STATUSES[usize::from(*status) % STATUSES.len()],
        retry_after: None,
        body,
        ts_ms: u64::from(*ts) * 997,
    };
    let chunk: Vec<PhoneId> = ["123456ABCDEF", "1", "a", "b"].map(PhoneId::from).into();
    match which % 8 {
        0 => drop(decode_batch(Operation::Status, &chunk, &answer)),
        1 => drop(decode_batch(Operation::Stop, &chunk, &answer)),
        2 => drop(decode_batch(Operation::Start, &chunk, &answer)),
        3 => drop(decode_ack(Operation::Restart, &answer)),
        4 => drop(decode_ack(Operation::Reset, &answer)),
        5 => drop(decode_auth(&answer)),
        6 => {
            let page = match page {
                0 => u64::MAX,
                p => u64::from(*p),
            };
            let _ = decode_list(page, u64::from(*ts % 101), &answer);
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(body) {
                let _ = parse_retry_after(s);
                let with_header = Answer {
                    retry_after: Some(s),
                    body: b"{}",
                    ..answer
                };
                let _ = decode_auth(&with_header);
            }
        }
    }
});
