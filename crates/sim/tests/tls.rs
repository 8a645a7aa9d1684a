//! `--tls`: every vendor over HTTPS with a generated certificate; the printed client
//! configuration trusts it through `ca_file`, and the real clients talk to it.

use cloudphone::{Config, Fleet, PhoneRef};
use cloudphone_sim::{SimConfig, Simulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_built_from_the_printed_config_talk_to_the_tls_simulator() {
    let dir = std::env::temp_dir().join(format!("cloudphone-sim-tls-test-{}", std::process::id()));
    let ca = dir.join("ca.pem");
    let sim = Simulator::start(SimConfig::default().with_phones(2, 2).with_tls_ca_file(&ca))
        .await
        .unwrap();
    assert_eq!(sim.ca_file(), Some(ca.as_path()));
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(sim.banner().contains(&ca.display().to_string()));

    let toml = sim.client_config();
    for v in sim.vendors() {
        assert!(v.url().starts_with("https://"), "{}", v.url());
    }
    assert_eq!(
        toml.matches(&format!("ca_file = \"{}\"", ca.display()))
            .count(),
        sim.vendors().len(),
        "{toml}"
    );

    // Every vendor's client, built from that configuration, reads its phones over TLS.
    let config = Config::from_toml_str(&toml).unwrap();
    let fleet = Fleet::from_config(&config).unwrap();
    for v in sim.vendors() {
        let phones: Vec<PhoneRef> = v
            .phone_ids()
            .into_iter()
            .map(|id| PhoneRef::new(v.provider_name(), id))
            .collect();
        let report = fleet.status(&phones).await.unwrap();
        assert_eq!(report.outcomes.len(), phones.len());
        for o in &report.outcomes {
            assert!(
                o.outcome.error().is_none(),
                "{}: {:?}",
                v.type_name(),
                o.outcome.error()
            );
        }
    }

    // Without the CA the same client refuses the certificate: verification stays on.
    let untrusted = toml.replace(&format!("ca_file = \"{}\"\n", ca.display()), "");
    let fleet = Fleet::from_config(&Config::from_toml_str(&untrusted).unwrap()).unwrap();
    let v = &sim.vendors()[0];
    let phone = PhoneRef::new(v.provider_name(), v.phone_ids()[0].clone());
    let refused = match fleet.status(&[phone]).await {
        Err(_) => true,
        Ok(r) => r.outcomes.iter().all(|o| o.outcome.error().is_some()),
    };
    assert!(refused, "an untrusted certificate must be refused");
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn plain_http_by_default_and_a_temporary_ca_file_otherwise() {
    let sim = Simulator::start(SimConfig::default().with_phones(1, 1))
        .await
        .unwrap();
    assert!(sim.ca_file().is_none());
    assert!(!sim.client_config().contains("ca_file"));
    assert!(sim.geelark_url().starts_with("http://"));
    sim.shutdown().await;

    let sim = Simulator::start(SimConfig::default().with_phones(1, 1).with_tls())
        .await
        .unwrap();
    let ca = sim.ca_file().unwrap().to_path_buf();
    assert!(ca.starts_with(std::env::temp_dir()));
    assert!(ca.exists());
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(ca.parent().unwrap());
}
