//! Durability: leads answered 202 survive a `kill -9` of the server, each
//! with its `score_lead` job.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use leadex_store::testing::{Engine, TestDb};
use leadex_testkit::spawn_app;
use serde_json::Value;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn leadex(dir: &std::path::Path, env: &[(String, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_leadex"));
    c.arg("--data-dir")
        .arg(dir)
        .env("LEADEX__LOG__LEVEL", "warn")
        .env("LEADEX__RATE_LIMITS__ENABLED", "false")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

async fn start(dir: &std::path::Path, env: &[(String, String)], port: u16) -> Server {
    let child = leadex(dir, env)
        .args(["run", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("leadex starts");
    let server = Server(child);
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/health/ready")).send().await
            && r.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("leadex did not become ready");
}

async fn accepted_leads_survive_kill_9(engine: Engine) {
    let db = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => match TestDb::create(Engine::Postgres).await {
            Some(db) => Some(db),
            None => {
                eprintln!("skipped: LEADEX_TEST_PG_URL is not set");
                return;
            }
        },
    };
    let dir = std::env::temp_dir().join(format!("leadex-crash-{}", uuid::Uuid::now_v7().simple()));
    let mut env = Vec::new();
    if let Some(db) = &db {
        env.push(("LEADEX__DATABASE__URL".to_owned(), db.url.clone()));
        env.push(("LEADEX__PRIVACY__KEY".to_owned(), leadex_core::crypto::PiiCipher::generate_spec()));
    }
    let out = leadex(&dir, &env)
        .args(["admin", "create-account", "--role", "seller", "--name", "crash", "--json"])
        .output()
        .expect("admin command runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let key = created["api_key"].as_str().expect("api_key").to_owned();

    let port = crate::free_port();
    let server = start(&dir, &env, port).await;
    // Bodies come from a throwaway in-process app (same catalogue).
    let factory = spawn_app().await;
    let bodies: Vec<Value> = (0..400).map(|_| factory.lead("solar.residential")).collect();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/leads");
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let killer = {
        let accepted = accepted.clone();
        let mut server = server;
        tokio::spawn(async move {
            // Kill while requests are in flight, once some were accepted.
            loop {
                if accepted.lock().map(|a| a.len()).unwrap_or(0) >= 60 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let _ = server.0.kill(); // SIGKILL
            let _ = server.0.wait();
        })
    };
    futures::stream::iter(bodies)
        .for_each_concurrent(16, |b| {
            let client = client.clone();
            let url = url.clone();
            let key = key.clone();
            let accepted = accepted.clone();
            async move {
                if let Ok(r) = client.post(&url).bearer_auth(&key).json(&b).send().await
                    && r.status().as_u16() == 202
                    && let Ok(v) = r.json::<Value>().await
                    && let (Some(id), Ok(mut a)) = (v["id"].as_str(), accepted.lock())
                {
                    a.push(id.to_owned());
                }
            }
        })
        .await;
    killer.await.expect("killer task");
    let ids = accepted.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(ids.len() >= 60 && ids.len() < 400, "the kill landed mid-stream ({} accepted)", ids.len());

    eprintln!("{} leads accepted before kill -9", ids.len());
    // Restart on the same data and check every accepted lead and its job.
    let port = crate::free_port();
    let _server = start(&dir, &env, port).await;
    for id in &ids {
        let r = client
            .get(format!("http://127.0.0.1:{port}/v1/leads/{id}/jobs"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("reachable");
        assert_eq!(r.status().as_u16(), 200, "lead {id} lost after kill -9");
        let jobs: Value = r.json().await.expect("json");
        // `run` also runs workers, so the lead may have been scored since
        // (then its auction jobs exist too); its score_lead job must exist.
        let scoring = jobs.as_array().map(|j| j.iter().filter(|j| j["kind"] == "score_lead").count());
        assert_eq!(scoring, Some(1), "lead {id} lost its score_lead job");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_accepted_leads_survive_kill_9() {
    accepted_leads_survive_kill_9(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_accepted_leads_survive_kill_9() {
    accepted_leads_survive_kill_9(Engine::Postgres).await;
}
