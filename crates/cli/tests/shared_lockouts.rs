//! Lock-outs shared through Redis, end to end on the simulator: a GeeLark 40014 (an API banned
//! for two hours) or a refused Huawei key that one client met keeps another client of the same
//! account — its own configuration, its own connection to the store, as another process would
//! have — from sending at all.
//!
//! Needs a real `redis-server` (on `PATH`, or `$CLOUDPHONE_TEST_REDIS`); skipped, saying why,
//! without one.

use cloudphone::{Config, ErrorKind, Fleet, PhoneRef};
use cloudphone_redis::server::RedisServer;
use cloudphone_sim::{GeelarkLimits, HuaweiLimits, SimConfig, Simulator};

fn redis(test: &str) -> Option<RedisServer> {
    match RedisServer::start() {
        Ok(r) => Some(r),
        Err(why) => {
            println!("skipped {test}: {why}");
            None
        }
    }
}

fn fleet(doc: &str) -> Fleet {
    let config = Config::from_toml_str_with_env(doc, &|_| None).unwrap();
    Fleet::from_config(&config).unwrap()
}

#[tokio::test]
async fn a_geelark_ban_one_client_met_stops_the_others() {
    let Some(redis) = redis("a_geelark_ban_one_client_met_stops_the_others") else {
        return;
    };
    // The vendor bans the API after 2 calls in its hour.
    let sim = Simulator::start(SimConfig::default().with_phones(2, 0).with_geelark_limits(
        GeelarkLimits {
            per_minute: None,
            per_hour: Some(2),
            ..GeelarkLimits::default()
        },
    ))
    .await
    .unwrap();
    let c = sim.credentials();
    let doc = format!(
        "[rate_limit]\nstore = \"{}\"\n\n[providers.gl]\ntype = \"geelark\"\nbase_url = \"{}\"\n\
         app_id = \"{}\"\napi_key = \"{}\"\nretry_min_delay_ms = 5\nretry_max_delay_ms = 20\n",
        redis.url(),
        sim.geelark_url(),
        c.geelark_app_id,
        c.geelark_api_key
    );
    let (a, b) = (fleet(&doc), fleet(&doc));
    let phone: Vec<PhoneRef> = vec![format!("gl/{}", sim.geelark_phone_ids()[0])
        .parse()
        .unwrap()];
    for _ in 0..2 {
        assert_eq!(a.status(&phone).await.unwrap().summary().succeeded, 1);
    }
    let banned = a.status(&phone).await.unwrap();
    let e = banned.outcomes[0].outcome.error().unwrap().clone();
    assert_eq!(e.vendor_code(), Some("40014"), "{e}");
    let status = "POST /open/v1/phone/status";
    let sent = sim.geelark().call_count(status);
    assert_eq!(sent, 3);

    // B never met the ban, and does not call the API.
    let report = b.status(&phone).await.unwrap();
    let e = report.outcomes[0].outcome.error().unwrap().clone();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.vendor_code(), Some("40014"));
    assert!(e.is_not_applied() && !e.is_temporary(), "{e}");
    assert!(e.message().contains("about 120 min left"), "{e}");
    assert!(e.message().contains(&redis.url()), "{e}");
    assert_eq!(sim.geelark().call_count(status), sent, "nothing was sent");
    // Another API of the account is not banned.
    let stop = b.stop(&phone).await.unwrap();
    assert!(stop.outcomes[0]
        .outcome
        .error()
        .is_none_or(|e| e.vendor_code() != Some("40014")));
    assert_eq!(sim.geelark().call_count("POST /open/v1/phone/stop"), 1);
}

#[tokio::test]
async fn a_refused_huawei_key_one_client_met_stops_the_others() {
    let Some(redis) = redis("a_refused_huawei_key_one_client_met_stops_the_others") else {
        return;
    };
    let sim = Simulator::start(SimConfig::default().with_phones(0, 2).with_huawei_limits(
        HuaweiLimits {
            per_second: None,
            ..HuaweiLimits::default()
        },
    ))
    .await
    .unwrap();
    let c = sim.credentials();
    let doc = |secret: &str| {
        format!(
            "[rate_limit]\nstore = \"{}\"\n\n[providers.hw]\ntype = \"huawei-cph\"\n\
             region = \"{}\"\nproject_id = \"{}\"\nendpoint = \"{}\"\naccess_key = \"{}\"\n\
             secret_key = \"{secret}\"\nstatus_strategy = \"detail\"\n",
            redis.url(),
            c.huawei_region,
            c.huawei_project_id,
            sim.huawei_url(),
            c.huawei_access_key
        )
    };
    // A has a wrong secret for the account's key: the gateway refuses it once.
    let a = fleet(&doc("not-the-secret"));
    let phone: Vec<PhoneRef> = vec![format!("hw/{}", sim.huawei_phone_ids()[0]).parse().unwrap()];
    let refused = a.status(&phone).await;
    let e = match refused {
        Err(e) => e,
        Ok(r) => r.outcomes[0].outcome.error().unwrap().clone(),
    };
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    let sent = sim.huawei().calls().total();
    assert_eq!(sent, 1);

    // B (the right secret, the same key id) sends nothing until the lock-out ends: Huawei
    // locks a key after five failures, whoever sends them.
    let b = fleet(&doc(&c.huawei_secret_key));
    let e = match b.status(&phone).await {
        Err(e) => e,
        Ok(r) => r.outcomes[0].outcome.error().unwrap().clone(),
    };
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(e.is_not_applied(), "{e}");
    assert!(e.message().contains("about 10 min left"), "{e}");
    assert!(!e.to_string().contains(&c.huawei_secret_key), "{e}");
    assert_eq!(sim.huawei().calls().total(), sent, "nothing was sent");

    // A client of another key (another account) is not locked out.
    let other = doc(&c.huawei_secret_key).replace(
        &format!("access_key = \"{}\"", c.huawei_access_key),
        "access_key = \"ANOTHER-KEY\"",
    );
    let _ = fleet(&other).status(&phone).await;
    assert_eq!(sim.huawei().calls().total(), sent + 1);
}
