//! Server tests over real loopback HTTP, with requests signed by the fake's own verifier-side helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;
use crate::config::Api;

// ----- a tiny raw HTTP client ---------------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(fake: &FakeCdn) -> Self {
        let s = TcpStream::connect(fake.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.writer.write_all(req.as_bytes())?;
        self.writer.write_all(body)?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> std::io::Result<Reply> {
        let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(eof());
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(eof)?;
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if self.reader.read_line(&mut l)? == 0 {
                return Err(eof());
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').ok_or_else(eof)?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn form(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

// ----- v2 helpers ---------------------------------------------------------------------------------------------

fn v2_cfg() -> FakeConfig {
    FakeConfig {
        api: Api::V2,
        ..FakeConfig::default()
    }
}

fn urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://www.example.com/p/{i}.html"))
        .collect()
}

static NONCE: AtomicU64 = AtomicU64::new(1000);

/// Common + url params, with a fresh nonce and the current time.
fn v2_params(cfg: &FakeConfig, list: &[String]) -> Vec<(String, String)> {
    let mut p = vec![
        ("Action".to_string(), v2::ACTION.to_string()),
        ("SecretId".into(), cfg.secret_id.clone()),
        ("Timestamp".into(), unix_now().to_string()),
        (
            "Nonce".into(),
            NONCE.fetch_add(1, Ordering::SeqCst).to_string(),
        ),
    ];
    for (i, u) in list.iter().enumerate() {
        p.push((format!("urls.{i}"), u.clone()));
    }
    p
}

fn v2_send(fake: &FakeCdn, method: &str, params: Vec<(String, String)>, key: &str) -> Reply {
    let host = fake.addr().to_string();
    let signed = v2::signed(method, &host, v2::PATH, params, key);
    let mut c = Conn::open(fake);
    if method == "GET" {
        c.send(
            "GET",
            &format!("{}?{}", v2::PATH, form(&signed)),
            &[("Host", &host)],
            b"",
        )
        .unwrap()
    } else {
        let ct = ("Content-Type", "application/x-www-form-urlencoded");
        c.send(
            "POST",
            v2::PATH,
            &[("Host", &host), ct],
            form(&signed).as_bytes(),
        )
        .unwrap()
    }
}

fn v2_push(fake: &FakeCdn, cfg: &FakeConfig, list: &[String]) -> Value {
    v2_send(fake, "POST", v2_params(cfg, list), &cfg.secret_key).json()
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap()
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap()
}

// ----- v3 helpers ---------------------------------------------------------------------------------------------

fn v3_call_at(
    fake: &FakeCdn,
    cfg: &FakeConfig,
    action: &str,
    body: &Value,
    ts: i64,
    extra: &[(&str, &str)],
) -> Value {
    let host = fake.addr().to_string();
    let body = body.to_string();
    let ct = "application/json";
    let auth = v3::authorization(
        &cfg.secret_id,
        &cfg.secret_key,
        ts,
        "POST",
        "",
        ct,
        &host,
        body.as_bytes(),
    );
    let ts = ts.to_string();
    let mut headers = vec![
        ("Host", host.as_str()),
        ("Content-Type", ct),
        ("X-TC-Action", action),
        ("X-TC-Version", v3::VERSION),
        ("X-TC-Timestamp", ts.as_str()),
        ("Authorization", auth.as_str()),
    ];
    headers.extend_from_slice(extra);
    let r = Conn::open(fake)
        .send("POST", "/", &headers, body.as_bytes())
        .unwrap();
    assert_eq!(r.status, 200);
    r.json()
}

fn v3_call(fake: &FakeCdn, cfg: &FakeConfig, action: &str, body: &Value) -> Value {
    v3_call_at(fake, cfg, action, body, unix_now(), &[])
}

fn v3_push(fake: &FakeCdn, cfg: &FakeConfig, list: &[String], area: Option<&str>) -> Value {
    let mut body = json!({ "Urls": list });
    if let Some(a) = area {
        body["Area"] = json!(a);
    }
    v3_call(fake, cfg, v3::PUSH_ACTION, &body)
}

fn err_code(v: &Value) -> &str {
    v["Response"]["Error"]["Code"].as_str().unwrap_or("")
}

fn err_msg(v: &Value) -> &str {
    v["Response"]["Error"]["Message"].as_str().unwrap_or("")
}

// ----- v2 -----------------------------------------------------------------------------------------------------

#[test]
fn v2_accepts_a_batch_with_array_data_and_spends_overseas_quota() {
    let cfg = v2_cfg();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    assert_eq!(
        fake.endpoint(),
        format!("http://{}/v2/index.php", fake.addr())
    );
    let mut list = urls(3);
    list.push("https://static.example.com/app.js".into());
    let v = v2_push(&fake, &cfg, &list);
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["codeDesc"], "Success");
    assert_eq!(v["message"], "");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "one task per domain: {v}");
    assert!(data[0]["task_id"].is_string());
    assert_eq!(data[0]["date"].as_str().unwrap().len(), 19);
    assert_eq!(fake.accepted_urls(), list);
    let acc = fake.accepted();
    assert_eq!(acc[0].area, "overseas");
    assert_eq!(acc[0].task_id, data[0]["task_id"].as_str().unwrap());
    assert_eq!(acc[3].task_id, data[1]["task_id"].as_str().unwrap());
    assert_eq!(fake.quota_left("overseas"), 996);
    assert_eq!(fake.quota_left("mainland"), 1000);
    assert_eq!(fake.calls(v2::ACTION), 1);
}

#[test]
fn v2_get_and_sha256_and_underscore_names_are_accepted() {
    let cfg = v2_cfg();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let mut p = v2_params(&cfg, &urls(1));
    p.push(("SignatureMethod".into(), "HmacSHA256".into()));
    let r = v2_send(&fake, "GET", p, &cfg.secret_key);
    assert_eq!(code(&r.json()), 0, "{}", r.json());
    // urls_0 signs like urls.0 (TENCENT.md §1.1 step 2).
    let p: Vec<_> = v2_params(&cfg, &urls(2))
        .into_iter()
        .map(|(k, v)| (k.replace("urls.", "urls_"), v))
        .collect();
    assert_eq!(code(&v2_send(&fake, "POST", p, &cfg.secret_key).json()), 0);
    assert_eq!(fake.accepted().len(), 3);
}

#[test]
fn v2_refuses_bad_batches_without_accepting_anything() {
    let cfg = FakeConfig {
        bad_urls: vec!["https://www.example.com/bad".into()],
        ..v2_cfg()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let v = v2_push(&fake, &cfg, &urls(21));
    assert_eq!(code(&v), 4000);
    assert!(message(&v).starts_with("(23100)"), "{v}");
    let v = v2_push(&fake, &cfg, &[]);
    assert_eq!(code(&v), 4000);
    let v = v2_push(
        &fake,
        &cfg,
        &[
            "https://www.example.com/a".into(),
            "ftp://www.example.com/x".into(),
        ],
    );
    assert_eq!(code(&v), 4000);
    assert!(
        message(&v).starts_with("(9003)") && message(&v).contains("ftp://www.example.com/x"),
        "{v}"
    );
    let v = v2_push(&fake, &cfg, &["https://evil.example.org/x".into()]);
    assert_eq!(code(&v), 4000);
    assert!(
        message(&v).starts_with("(9105)") && message(&v).contains("evil.example.org"),
        "{v}"
    );
    let v = v2_push(
        &fake,
        &cfg,
        &[
            "https://www.example.com/ok".into(),
            "https://www.example.com/bad".into(),
        ],
    );
    assert_eq!(code(&v), 4000);
    assert!(message(&v).contains("https://www.example.com/bad"), "{v}");
    assert!(fake.accepted().is_empty());
    assert_eq!(fake.rejected().len(), 5);
    assert_eq!(fake.quota_left("overseas"), 1000);
    // Exactly 20 is fine.
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(20))), 0);
}

#[test]
fn v2_quota_is_all_or_nothing_in_both_forms() {
    for (form, want_code, want_prefix) in [
        (
            QuotaErrorForm::Module,
            4000,
            "(23101)URL预热超出当日额度限制",
        ),
        (QuotaErrorForm::Code4400, 4400, ""),
    ] {
        let cfg = FakeConfig {
            per_day: 30,
            spent_overseas: 5,
            quota_error: form,
            ..v2_cfg()
        };
        let fake = FakeCdn::start(cfg.clone()).unwrap();
        assert_eq!(code(&v2_push(&fake, &cfg, &urls(20))), 0);
        assert_eq!(fake.quota_left("overseas"), 5);
        let v = v2_push(&fake, &cfg, &urls(6));
        assert_eq!(code(&v), want_code, "{v}");
        assert!(message(&v).starts_with(want_prefix), "{v}");
        assert_eq!(
            fake.accepted().len(),
            20,
            "a batch past the quota accepts nothing"
        );
        assert_eq!(code(&v2_push(&fake, &cfg, &urls(5))), 0);
        assert_eq!(fake.quota_left("overseas"), 0);
        fake.reset_day();
        assert_eq!(fake.quota_left("overseas"), 30);
        assert_eq!(code(&v2_push(&fake, &cfg, &urls(6))), 0);
    }
}

#[test]
fn v2_auth_failures() {
    let cfg = v2_cfg();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    // Bad signature: the exact answer real clients see.
    let r = v2_send(&fake, "POST", v2_params(&cfg, &urls(1)), "wrong-key");
    assert_eq!(
        r.json(),
        json!({"code":4100,"message":"身份认证失败，用户身份验证失败","codeDesc":"AuthFailure"})
    );
    // GET-signed parameters sent by POST fail too (the method is signed).
    let host = fake.addr().to_string();
    let signed = v2::signed(
        "GET",
        &host,
        v2::PATH,
        v2_params(&cfg, &urls(1)),
        &cfg.secret_key,
    );
    let ct = ("Content-Type", "application/x-www-form-urlencoded");
    let r = Conn::open(&fake)
        .send(
            "POST",
            v2::PATH,
            &[("Host", &host), ct],
            form(&signed).as_bytes(),
        )
        .unwrap();
    assert_eq!(code(&r.json()), 4100);
    // Stale timestamp.
    let mut p = v2_params(&cfg, &urls(1));
    p[2].1 = (unix_now() - 301).to_string();
    let v = v2_send(&fake, "POST", p, &cfg.secret_key).json();
    assert_eq!(code(&v), 4500, "{v}");
    // Unknown SecretId.
    let mut p = v2_params(&cfg, &urls(1));
    p[1].1 = "AKIDother".into();
    assert_eq!(
        code(&v2_send(&fake, "POST", p, &cfg.secret_key).json()),
        4104
    );
    // Reused nonce: the first call passes, the replay does not.
    let p = v2_params(&cfg, &urls(1));
    assert_eq!(
        code(&v2_send(&fake, "POST", p.clone(), &cfg.secret_key).json()),
        0
    );
    let v = v2_send(&fake, "POST", p, &cfg.secret_key).json();
    assert_eq!(code(&v), 4500, "{v}");
    assert!(message(&v).contains("Nonce"));
    assert_eq!(fake.accepted().len(), 1);
}

#[test]
fn v2_object_data_numeric_ids_and_token() {
    let cfg = FakeConfig {
        data_shape: DataShape::Object,
        numeric_task_id: true,
        token: Some("tok".into()),
        ..v2_cfg()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    assert_eq!(
        code(&v2_push(&fake, &cfg, &urls(2))),
        4100,
        "token required"
    );
    let mut p = v2_params(&cfg, &urls(2));
    p.push(("Token".into(), "tok".into()));
    let v = v2_send(&fake, "POST", p, &cfg.secret_key).json();
    assert_eq!(code(&v), 0, "{v}");
    assert!(v["data"].is_object(), "{v}");
    assert!(v["data"]["task_id"].is_u64(), "{v}");
    assert_eq!(fake.accepted()[0].task_id, v["data"]["task_id"].to_string());
}

// ----- v3 -----------------------------------------------------------------------------------------------------

#[test]
fn v3_accepts_a_batch_and_records_area() {
    let cfg = FakeConfig::default();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    assert_eq!(fake.endpoint(), format!("http://{}/", fake.addr()));
    let v = v3_push(&fake, &cfg, &urls(3), Some("overseas"));
    let task = v["Response"]["TaskId"].as_str().unwrap().to_string();
    assert!(v["Response"]["RequestId"].is_string());
    assert!(task.chars().all(|c| c.is_ascii_digit()), "{task}");
    assert_eq!(fake.accepted_urls(), urls(3));
    assert!(
        fake.accepted()
            .iter()
            .all(|a| a.area == "overseas" && a.task_id == task)
    );
    // Default area is mainland.
    v3_push(&fake, &cfg, &urls(1), None);
    assert_eq!(fake.accepted()[3].area, "mainland");
    assert_eq!(fake.calls("PushUrlsCache"), 2);
}

#[test]
fn v3_quota_per_area_and_global_spends_both() {
    let cfg = FakeConfig {
        per_day: 10,
        spent_mainland: 2,
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    assert!(v3_push(&fake, &cfg, &urls(5), Some("global"))["Response"]["TaskId"].is_string());
    assert_eq!(
        (fake.quota_left("mainland"), fake.quota_left("overseas")),
        (3, 5)
    );
    let v = v3_push(&fake, &cfg, &urls(4), Some("global"));
    assert_eq!(err_code(&v), "LimitExceeded.CdnPushExceedDayLimit", "{v}");
    assert!(err_msg(&v).contains("mainland"), "{v}");
    assert!(v3_push(&fake, &cfg, &urls(4), Some("overseas"))["Response"]["TaskId"].is_string());
    assert_eq!(
        (fake.quota_left("mainland"), fake.quota_left("overseas")),
        (3, 1)
    );
    let q = v3_call(&fake, &cfg, "DescribePushQuota", &json!({}));
    assert_eq!(
        q["Response"]["UrlPush"],
        json!([
            {"Batch": 500, "Total": 10, "Available": 3, "Area": "mainland"},
            {"Batch": 500, "Total": 10, "Available": 1, "Area": "overseas"}
        ])
    );
    assert_eq!(fake.accepted().len(), 9);
}

#[test]
fn v3_parameter_errors() {
    let cfg = FakeConfig {
        per_request: Some(3),
        bad_urls: vec!["https://www.example.com/bad".into()],
        not_in_area: vec![("static.example.com".into(), "mainland".into())],
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let cases: Vec<(Vec<String>, Option<&str>, &str, &str)> = vec![
        (urls(4), None, "LimitExceeded.CdnPushExceedBatchLimit", ""),
        (vec![], None, "InvalidParameter.CdnParamError", ""),
        (
            vec!["www.example.com/x".into()],
            None,
            "InvalidParameter.CdnParamError",
            "www.example.com/x",
        ),
        (
            vec!["https://nope.example.net/x".into()],
            None,
            "ResourceNotFound.CdnHostNotExists",
            "nope.example.net",
        ),
        (
            vec!["https://www.example.com/bad".into()],
            None,
            "InvalidParameter.CdnParamError",
            "/bad",
        ),
        (
            vec!["https://static.example.com/a".into()],
            None,
            "InvalidParameter.CdnHostInvalidParam",
            "mainland",
        ),
        (
            vec!["https://static.example.com/a".into()],
            Some("global"),
            "InvalidParameter.CdnHostInvalidParam",
            "mainland",
        ),
        (
            urls(1),
            Some("moon"),
            "InvalidParameter.CdnParamError",
            "moon",
        ),
    ];
    for (list, area, want, needle) in cases {
        let v = v3_push(&fake, &cfg, &list, area);
        assert_eq!(err_code(&v), want, "{list:?}: {v}");
        assert!(err_msg(&v).contains(needle), "{v}");
    }
    assert!(fake.accepted().is_empty());
    // Overseas is fine for static.example.com.
    assert!(
        v3_push(
            &fake,
            &cfg,
            &["https://static.example.com/a".into()],
            Some("overseas")
        )["Response"]["TaskId"]
            .is_string()
    );
    // Unknown action, bad JSON.
    assert_eq!(
        err_code(&v3_call(&fake, &cfg, "DescribeWhatever", &json!({}))),
        "InvalidAction"
    );
    assert_eq!(
        err_code(&v3_call(
            &fake,
            &cfg,
            "PushUrlsCache",
            &json!({"Urls": "x"})
        )),
        "InvalidParameter.CdnParamError"
    );
}

#[test]
fn v3_auth_failures() {
    let cfg = FakeConfig {
        token: Some("tok".into()),
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let body = json!({"Urls": urls(1)});
    let tok = [("X-TC-Token", "tok")];
    let v = v3_call_at(&fake, &cfg, "PushUrlsCache", &body, unix_now() - 400, &tok);
    assert_eq!(err_code(&v), "AuthFailure.SignatureExpire");
    let wrong_key = FakeConfig {
        secret_key: "other".into(),
        ..cfg.clone()
    };
    let v = v3_call_at(&fake, &wrong_key, "PushUrlsCache", &body, unix_now(), &tok);
    assert_eq!(err_code(&v), "AuthFailure.SignatureFailure");
    let wrong_id = FakeConfig {
        secret_id: "AKIDother".into(),
        ..cfg.clone()
    };
    let v = v3_call_at(&fake, &wrong_id, "PushUrlsCache", &body, unix_now(), &tok);
    assert_eq!(err_code(&v), "AuthFailure.SecretIdNotFound");
    let v = v3_call_at(&fake, &cfg, "PushUrlsCache", &body, unix_now(), &[]);
    assert_eq!(err_code(&v), "AuthFailure.TokenFailure");
    assert!(fake.accepted().is_empty());
    let v = v3_call_at(&fake, &cfg, "PushUrlsCache", &body, unix_now(), &tok);
    assert!(v["Response"]["TaskId"].is_string(), "{v}");

    // A different Content-Type from the one signed breaks the signature; wrong version; no Authorization.
    let host = fake.addr().to_string();
    let ts = unix_now();
    let raw = body.to_string();
    let auth = v3::authorization(
        &cfg.secret_id,
        &cfg.secret_key,
        ts,
        "POST",
        "",
        "application/json",
        &host,
        raw.as_bytes(),
    );
    let ts_s = ts.to_string();
    let send = |ct: &str, version: &str, auth: Option<&str>| {
        let mut h = vec![
            ("Host", host.as_str()),
            ("Content-Type", ct),
            ("X-TC-Action", "PushUrlsCache"),
            ("X-TC-Version", version),
            ("X-TC-Timestamp", ts_s.as_str()),
            ("X-TC-Token", "tok"),
        ];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        Conn::open(&fake)
            .send("POST", "/", &h, raw.as_bytes())
            .unwrap()
            .json()
    };
    assert_eq!(
        err_code(&send(
            "application/json; charset=utf-8",
            "2018-06-06",
            Some(&auth)
        )),
        "AuthFailure.SignatureFailure"
    );
    assert_eq!(
        err_code(&send("application/json", "2017-03-12", Some(&auth))),
        "NoSuchVersion"
    );
    assert_eq!(
        err_code(&send("application/json", "2018-06-06", None)),
        "AuthFailure.InvalidAuthorization"
    );
    assert!(send("application/json", "2018-06-06", Some(&auth))["Response"]["TaskId"].is_string());
}

#[test]
fn v3_get_form_requests_are_verified_and_served() {
    let cfg = FakeConfig::default();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let host = fake.addr().to_string();
    let query = format!(
        "Urls.0={}&Urls.1={}&Area=overseas",
        enc(&urls(2)[0]),
        enc(&urls(2)[1])
    );
    let ct = "application/x-www-form-urlencoded";
    let ts = unix_now();
    let auth = v3::authorization(
        &cfg.secret_id,
        &cfg.secret_key,
        ts,
        "GET",
        &query,
        ct,
        &host,
        b"",
    );
    let ts = ts.to_string();
    let h = [
        ("Host", host.as_str()),
        ("Content-Type", ct),
        ("X-TC-Action", "PushUrlsCache"),
        ("X-TC-Version", v3::VERSION),
        ("X-TC-Timestamp", ts.as_str()),
        ("Authorization", auth.as_str()),
    ];
    let v = Conn::open(&fake)
        .send("GET", &format!("/?{query}"), &h, b"")
        .unwrap()
        .json();
    assert!(v["Response"]["TaskId"].is_string(), "{v}");
    assert_eq!(fake.accepted_urls(), urls(2));
    assert_eq!(fake.quota_left("overseas"), 998);
}

#[test]
fn v3_tasks_move_from_process_to_done_and_fail_or_invalid() {
    let cfg = FakeConfig {
        task_duration: Duration::from_millis(600),
        fail_urls: vec![urls(3)[1].clone()],
        invalid_urls: vec![urls(3)[2].clone()],
        capitalised_status: true,
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let task = v3_push(&fake, &cfg, &urls(3), Some("overseas"))["Response"]["TaskId"]
        .as_str()
        .unwrap()
        .to_string();
    let query = json!({"TaskId": task});
    let v = v3_call(&fake, &cfg, "DescribePushTasks", &query);
    let logs = v["Response"]["PushLogs"].as_array().unwrap();
    assert_eq!(v["Response"]["TotalCount"], 3);
    assert!(
        logs.iter()
            .all(|l| l["Status"] == "process" && l["UpdateTime"].is_null()),
        "{v}"
    );
    assert_eq!(logs[0]["Area"], "overseas");
    assert_eq!(logs[0]["Url"], urls(3)[0].as_str());
    assert_eq!(logs[0]["CreateTime"].as_str().unwrap().len(), 19);
    std::thread::sleep(Duration::from_millis(700));
    let v = v3_call(&fake, &cfg, "DescribePushTasks", &query);
    let statuses: Vec<&str> = v["Response"]["PushLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["Status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Done", "fail", "invalid"]);
    // Status filter, pagination, and the time-range form.
    let v = v3_call(
        &fake,
        &cfg,
        "DescribePushTasks",
        &json!({"TaskId": task, "Status": "done"}),
    );
    assert_eq!(v["Response"]["TotalCount"], 1);
    let start = beijing(OffsetDateTime::now_utc() - time::Duration::minutes(5));
    let v = v3_call(
        &fake,
        &cfg,
        "DescribePushTasks",
        &json!({"StartTime": start, "Offset": 1, "Limit": 1}),
    );
    assert_eq!(v["Response"]["TotalCount"], 3);
    assert_eq!(v["Response"]["PushLogs"].as_array().unwrap().len(), 1);
    assert_eq!(v["Response"]["PushLogs"][0]["Url"], urls(3)[1].as_str());
    let v = v3_call(
        &fake,
        &cfg,
        "DescribePushTasks",
        &json!({"StartTime": start, "Area": "mainland"}),
    );
    assert_eq!(v["Response"]["TotalCount"], 0);
    assert_eq!(
        err_code(&v3_call(&fake, &cfg, "DescribePushTasks", &json!({}))),
        "MissingParameter"
    );
}

#[test]
fn v3_tasks_are_done_immediately_by_default() {
    let cfg = FakeConfig::default();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let task = v3_push(&fake, &cfg, &urls(1), None)["Response"]["TaskId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = v3_call(&fake, &cfg, "DescribePushTasks", &json!({"TaskId": task}));
    assert_eq!(v["Response"]["PushLogs"][0]["Status"], "done");
    assert_eq!(v["Response"]["PushLogs"][0]["Percent"], 100);
}

// ----- faults -------------------------------------------------------------------------------------------------

#[test]
fn http_faults_never_accept() {
    let cfg = FakeConfig {
        faults: "500@1, 503:empty@2, html200@3, truncated@4, throttle@5, auth@6, internal@7".into(),
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let host = fake.addr().to_string();
    let raw = |fake: &FakeCdn| {
        let body = json!({"Urls": urls(1)}).to_string();
        let ts = unix_now();
        let auth = v3::authorization(
            &cfg.secret_id,
            &cfg.secret_key,
            ts,
            "POST",
            "",
            "application/json",
            &host,
            body.as_bytes(),
        );
        let ts = ts.to_string();
        let h = [
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
            ("X-TC-Action", "PushUrlsCache"),
            ("X-TC-Version", v3::VERSION),
            ("X-TC-Timestamp", ts.as_str()),
            ("Authorization", auth.as_str()),
        ];
        Conn::open(fake).send("POST", "/", &h, body.as_bytes())
    };
    let r = raw(&fake).unwrap();
    assert_eq!(r.status, 500);
    assert!(String::from_utf8_lossy(&r.body).contains("<html>"));
    let r = raw(&fake).unwrap();
    assert_eq!((r.status, r.body.len()), (503, 0));
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = raw(&fake).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = raw(&fake).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_err(),
        "truncated body must not parse"
    );
    assert_eq!(
        err_code(&raw(&fake).unwrap().json()),
        "RequestLimitExceeded"
    );
    assert_eq!(
        err_code(&raw(&fake).unwrap().json()),
        "AuthFailure.SignatureFailure"
    );
    assert_eq!(err_code(&raw(&fake).unwrap().json()), "InternalError");
    assert!(fake.accepted().is_empty());
    assert_eq!(fake.rejected().len(), 7);
    assert!(fake.rejected()[0].reason.contains("500"));
    assert_eq!(fake.rejected()[0].urls, urls(1));
    // Call 8 is clean.
    assert!(raw(&fake).unwrap().json()["Response"]["TaskId"].is_string());
    // Only push calls count: DescribePushQuota is never faulted.
    fake.set_faults("500").unwrap();
    assert!(
        v3_call(&fake, &cfg, "DescribePushQuota", &json!({}))["Response"]["UrlPush"].is_array()
    );
    assert_eq!(raw(&fake).unwrap().status, 500);
}

#[test]
fn v2_api_level_faults() {
    let cfg = FakeConfig {
        faults: "throttle@1 auth@2 internal@3".into(),
        ..v2_cfg()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let v = v2_push(&fake, &cfg, &urls(1));
    assert_eq!(code(&v), 4000);
    assert!(message(&v).starts_with("(9163)"));
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(1))), 4100);
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(1))), 6000);
    assert!(fake.accepted().is_empty());
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(1))), 0);
}

#[test]
fn connection_faults_drop_reset_timeout() {
    let cfg = FakeConfig {
        faults: "drop@1 reset@2 timeout:100@3".into(),
        ..v2_cfg()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let host = fake.addr().to_string();
    let try_push = || {
        let signed = v2::signed(
            "POST",
            &host,
            v2::PATH,
            v2_params(&cfg, &urls(1)),
            &cfg.secret_key,
        );
        let ct = ("Content-Type", "application/x-www-form-urlencoded");
        Conn::open(&fake).send(
            "POST",
            v2::PATH,
            &[("Host", &host), ct],
            form(&signed).as_bytes(),
        )
    };
    assert!(try_push().is_err(), "drop: no answer");
    assert!(try_push().is_err(), "reset: half an answer");
    let t = std::time::Instant::now();
    assert!(try_push().is_err(), "timeout: no answer");
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(fake.accepted().is_empty());
    assert_eq!(code(&try_push().unwrap().json()), 0);
    assert_eq!(fake.accepted().len(), 1);
}

#[test]
fn slow_answers_late_unless_the_client_gave_up() {
    let cfg = FakeConfig {
        faults: "slow:300@1-2".into(),
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let t = std::time::Instant::now();
    assert!(v3_push(&fake, &cfg, &urls(1), None)["Response"]["TaskId"].is_string());
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(fake.accepted().len(), 1);
    // A client that times out and hangs up: the request is not processed.
    let host = fake.addr().to_string();
    let body = json!({"Urls": urls(2)}).to_string();
    let ts = unix_now();
    let auth = v3::authorization(
        &cfg.secret_id,
        &cfg.secret_key,
        ts,
        "POST",
        "",
        "application/json",
        &host,
        body.as_bytes(),
    );
    let mut s = TcpStream::connect(fake.addr()).unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-TC-Action: PushUrlsCache\r\nX-TC-Version: 2018-06-06\r\nX-TC-Timestamp: {ts}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(s);
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(
        fake.accepted().len(),
        1,
        "a request whose client left must not be processed"
    );
    assert!(fake.rejected().iter().any(|r| r.reason.contains("slow")));
}

#[test]
fn revoke_fault_and_admin_revoke() {
    let cfg = FakeConfig {
        faults: "revoke@2".into(),
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    assert!(v3_push(&fake, &cfg, &urls(1), None)["Response"]["TaskId"].is_string());
    assert_eq!(
        err_code(&v3_push(&fake, &cfg, &urls(1), None)),
        "AuthFailure.SecretIdNotFound"
    );
    assert_eq!(
        err_code(&v3_push(&fake, &cfg, &urls(1), None)),
        "AuthFailure.SecretIdNotFound"
    );
    assert_eq!(
        err_code(&v3_call(&fake, &cfg, "DescribePushQuota", &json!({}))),
        "AuthFailure.SecretIdNotFound"
    );
    assert_eq!(fake.accepted().len(), 1);

    let cfg = v2_cfg();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let mut c = Conn::open(&fake);
    assert_eq!(
        c.send("POST", "/__fake/revoke", &[], b"").unwrap().status,
        200
    );
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(1))), 4104);
    assert!(fake.accepted().is_empty());
}

#[test]
fn random_faults_are_deterministic_for_a_seed() {
    let run = |seed: u64| {
        let cfg = FakeConfig {
            faults: format!("random:0.5:seed={seed}"),
            ..v2_cfg()
        };
        let fake = FakeCdn::start(cfg.clone()).unwrap();
        let host = fake.addr().to_string();
        let mut outcomes = Vec::new();
        for _ in 0..16 {
            let signed = v2::signed(
                "POST",
                &host,
                v2::PATH,
                v2_params(&cfg, &urls(1)),
                &cfg.secret_key,
            );
            let ct = ("Content-Type", "application/x-www-form-urlencoded");
            let r = Conn::open(&fake).send(
                "POST",
                v2::PATH,
                &[("Host", &host), ct],
                form(&signed).as_bytes(),
            );
            outcomes.push(match r {
                Err(_) => "closed".to_string(),
                Ok(r) => match serde_json::from_slice::<Value>(&r.body) {
                    Ok(v) => format!("{} {}", r.status, v["code"]),
                    Err(_) => format!("{} not-json", r.status),
                },
            });
        }
        let ok = outcomes.iter().filter(|o| *o == "200 0").count();
        assert_eq!(fake.accepted().len(), ok, "{outcomes:?}");
        outcomes
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    assert!(
        a.iter().any(|o| o != "200 0") && a.iter().any(|o| o == "200 0"),
        "{a:?}"
    );
}

// ----- transport, admin, record -------------------------------------------------------------------------------

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let cfg = v2_cfg();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let host = fake.addr().to_string();
    let mut c = Conn::open(&fake);
    for _ in 0..2 {
        let signed = v2::signed(
            "POST",
            &host,
            v2::PATH,
            v2_params(&cfg, &urls(1)),
            &cfg.secret_key,
        );
        let ct = ("Content-Type", "application/x-www-form-urlencoded");
        let r = c
            .send(
                "POST",
                v2::PATH,
                &[("Host", &host), ct],
                form(&signed).as_bytes(),
            )
            .unwrap();
        assert_eq!(r.header("connection"), Some("keep-alive"));
        assert_eq!(code(&r.json()), 0);
    }
    assert_eq!(fake.accepted().len(), 2);
    // Connection: close is honoured.
    let r = c
        .send("GET", "/__fake/stats", &[("Connection", "close")], b"")
        .unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.send("GET", "/__fake/stats", &[], b"").is_err());
}

#[test]
fn transport_errors_are_polite() {
    let fake = FakeCdn::start(FakeConfig::default()).unwrap();
    let mut s = TcpStream::connect(fake.addr()).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 411 "), "{out}");
    let r = Conn::open(&fake)
        .send("GET", "/v2/index.php", &[], b"")
        .unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn admin_endpoints() {
    let cfg = FakeConfig {
        per_day: 10,
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    v3_push(&fake, &cfg, &urls(4), Some("mainland"));
    let mut c = Conn::open(&fake);
    let acc = c.send("GET", "/__fake/accepted", &[], b"").unwrap().json();
    assert_eq!(acc.as_array().unwrap().len(), 4);
    assert_eq!(acc[0]["url"], urls(4)[0].as_str());
    assert_eq!(acc[0]["area"], "mainland");
    let stats = c.send("GET", "/__fake/stats", &[], b"").unwrap().json();
    assert_eq!(stats["calls"]["PushUrlsCache"], 1);
    assert_eq!(stats["quota_left"]["mainland"], 6);
    assert_eq!(
        c.send("POST", "/__fake/reset-day", &[], b"")
            .unwrap()
            .status,
        200
    );
    assert_eq!(fake.quota_left("mainland"), 10);
    let bad = c.send("POST", "/__fake/faults", &[], b"bogus@1").unwrap();
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("bogus"));
    assert_eq!(
        c.send("POST", "/__fake/faults", &[], b"502@1")
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        c.send("GET", "/__fake/faults", &[], b"").unwrap().status,
        405
    );
    assert_eq!(c.send("GET", "/__fake/nope", &[], b"").unwrap().status, 404);
    let host = fake.addr().to_string();
    let body = json!({"Urls": urls(1)}).to_string();
    let ts = unix_now();
    let auth = v3::authorization(
        &cfg.secret_id,
        &cfg.secret_key,
        ts,
        "POST",
        "",
        "application/json",
        &host,
        body.as_bytes(),
    );
    let ts = ts.to_string();
    let h = [
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
        ("X-TC-Action", "PushUrlsCache"),
        ("X-TC-Version", v3::VERSION),
        ("X-TC-Timestamp", ts.as_str()),
        ("Authorization", auth.as_str()),
    ];
    assert_eq!(
        c.send("POST", "/", &h, body.as_bytes()).unwrap().status,
        502
    );
    let rej = c.send("GET", "/__fake/rejected", &[], b"").unwrap().json();
    assert_eq!(rej[0]["reason"], "fault: http 502");
    assert!(fake.set_faults("nonsense").is_err());
}

#[test]
fn record_file_gets_one_json_line_per_accepted_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushed.jsonl");
    let cfg = FakeConfig {
        record_file: Some(path.clone()),
        ..v2_cfg()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(2))), 0);
    assert_eq!(code(&v2_push(&fake, &cfg, &urls(1))), 0);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["url"], urls(1)[0].as_str());
    assert_eq!(lines[0]["area"], "overseas");
    assert!(lines[0]["task_id"].is_string());
}

#[test]
fn latency_is_added_and_drop_stops_the_server() {
    let cfg = FakeConfig {
        latency: Duration::from_millis(150),
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let addr = fake.addr();
    let t = std::time::Instant::now();
    v3_call(&fake, &cfg, "DescribePushQuota", &json!({}));
    assert!(t.elapsed() >= Duration::from_millis(150));
    drop(fake);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the port is closed after drop"
    );
}

#[test]
fn bad_start_config_is_an_error() {
    let e = FakeCdn::start(FakeConfig {
        faults: "500@x".into(),
        ..FakeConfig::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("500@x"));
    let cfg = FakeConfig {
        token: Some("tok-secret".into()),
        ..FakeConfig::default()
    };
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("tok-secret"), "{dbg}");
    assert!(!dbg.contains(FAKE_SECRET_KEY), "{dbg}");
}

#[test]
fn cli_args_parse_into_a_config() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        args: FakeCdnArgs,
    }
    let mut w = Wrap::try_parse_from([
        "fake-cdn",
        "--domain",
        "a.example.com",
        "--latency",
        "20ms",
        "--fault",
        "500@1",
        "--fault",
        "drop@2",
        "--quota-error",
        "4400",
        "--data-shape",
        "object",
        "--numeric-task-id",
        "--task-duration",
        "2",
        "--max-skew",
        "90s",
        "--not-in-area",
        "a.example.com:mainland",
    ])
    .unwrap();
    // --api and --per-day are the command line's common flags; the CLI copies them in.
    w.args.api = ApiArg::V2;
    w.args.per_day = 50;
    let cfg = w.args.to_config();
    assert_eq!(cfg.api, Api::V2);
    assert_eq!(cfg.domains, ["a.example.com"]);
    assert_eq!(cfg.latency, Duration::from_millis(20));
    assert_eq!(cfg.faults, "500@1,drop@2");
    assert_eq!(cfg.quota_error, QuotaErrorForm::Code4400);
    assert_eq!(cfg.data_shape, DataShape::Object);
    assert!(cfg.numeric_task_id);
    assert_eq!(cfg.task_duration, Duration::from_secs(2));
    assert_eq!(cfg.max_skew, Duration::from_secs(90));
    assert_eq!(
        cfg.not_in_area,
        [("a.example.com".to_string(), "mainland".to_string())]
    );
    assert_eq!(cfg.per_day, 50);
    let d = Wrap::try_parse_from(["fake-cdn"]).unwrap().args.to_config();
    assert_eq!(
        (d.api, d.per_day, d.max_skew, d.secret_id.as_str()),
        (Api::V3, 1000, Duration::from_secs(300), FAKE_SECRET_ID)
    );
    assert_eq!(d.domains, FakeConfig::default().domains);
    let dbg = format!("{:?}", w.args);
    assert!(
        !dbg.contains(FAKE_SECRET_KEY) && dbg.contains("a.example.com"),
        "{dbg}"
    );
    assert!(Wrap::try_parse_from(["fake-cdn", "--latency", "fast"]).is_err());
    assert!(Wrap::try_parse_from(["fake-cdn", "--not-in-area", "x:moon"]).is_err());
}

#[test]
fn a_real_client_reuses_one_connection() {
    let cfg = FakeConfig::default();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let client = reqwest::blocking::Client::builder().build().unwrap();
    let host = fake.addr().to_string();
    for i in 0..5 {
        let body = json!({"Urls": [format!("https://www.example.com/{i}")], "Area": "overseas"})
            .to_string();
        let ts = unix_now();
        let auth = v3::authorization(
            &cfg.secret_id,
            &cfg.secret_key,
            ts,
            "POST",
            "",
            "application/json",
            &host,
            body.as_bytes(),
        );
        let v: Value = client
            .post(fake.endpoint())
            .header("Content-Type", "application/json")
            .header("X-TC-Action", "PushUrlsCache")
            .header("X-TC-Version", v3::VERSION)
            .header("X-TC-Timestamp", ts.to_string())
            .header("Authorization", auth)
            .body(body)
            .send()
            .unwrap()
            .text()
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        assert!(v["Response"]["TaskId"].is_string(), "{v}");
    }
    assert_eq!(fake.accepted().len(), 5);
    assert_eq!(
        fake.connections(),
        1,
        "keep-alive: one connection for five calls"
    );
}

#[test]
fn concurrent_pushes_are_counted_exactly_once() {
    let cfg = FakeConfig {
        api: Api::V2,
        per_day: 100,
        ..FakeConfig::default()
    };
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (fake, cfg) = (&fake, &cfg);
            s.spawn(move || {
                for i in 0..3 {
                    let list: Vec<String> = (0..5)
                        .map(|j| format!("https://www.example.com/{t}/{i}/{j}"))
                        .collect();
                    v2_push(fake, cfg, &list);
                }
            });
        }
    });
    // 24 batches of 5 against a quota of 100: exactly 20 accepted, 4 refused whole.
    let acc = fake.accepted_urls();
    assert_eq!(acc.len(), 100);
    let unique: std::collections::HashSet<_> = acc.iter().collect();
    assert_eq!(unique.len(), 100);
    assert_eq!(fake.quota_left("overseas"), 0);
    assert_eq!(fake.rejected().len(), 4);
    assert_eq!(fake.calls(v2::ACTION), 24);
}

#[test]
fn oversized_v2_requests_get_501() {
    let cfg = v2_cfg();
    let fake = FakeCdn::start(cfg.clone()).unwrap();
    let mut p = v2_params(&cfg, &urls(1));
    p.push(("pad".into(), "x".repeat(33 * 1024)));
    let r = v2_send(&fake, "GET", p, &cfg.secret_key);
    assert_eq!(r.status, 501);
    assert!(fake.accepted().is_empty());
    assert_eq!(fake.rejected()[0].urls, urls(1));
}

#[test]
fn help_teaches_with_an_example() {
    use clap::{CommandFactory, Parser, Subcommand};
    #[derive(Parser)]
    struct Top {
        #[command(subcommand)]
        cmd: Cmd,
    }
    #[derive(Subcommand)]
    enum Cmd {
        FakeCdn(FakeCdnArgs),
    }
    let mut top = Top::command();
    let help = top
        .find_subcommand_mut("fake-cdn")
        .unwrap()
        .render_long_help()
        .to_string();
    for needle in [
        "--fault <RULE>",
        "random:0.2:seed=7",
        "Examples:",
        "FAKE test value",
        "--record <FILE>",
        "/__fake/",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
    // The fake credentials are test values and shown on purpose, so users can point prewarm at the fake.
    assert!(help.contains(FAKE_SECRET_ID) && help.contains(FAKE_SECRET_KEY));
    let _ = Top::try_parse_from(["p", "fake-cdn", "--port", "0"])
        .unwrap()
        .cmd;
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(parse_millis("20").unwrap(), Duration::from_millis(20));
    assert_eq!(parse_millis("20ms").unwrap(), Duration::from_millis(20));
    assert_eq!(parse_millis("1.5s").unwrap(), Duration::from_millis(1500));
    assert_eq!(parse_secs("2").unwrap(), Duration::from_secs(2));
    assert_eq!(parse_secs("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_secs("1m").unwrap(), Duration::from_secs(60));
    for bad in ["", "-1", "x", "1h", "NaN", "1e300s"] {
        let e = parse_secs(bad).unwrap_err();
        assert!(e.starts_with("invalid duration"), "{bad}: {e}");
    }
}
