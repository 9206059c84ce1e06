//! Tencent Cloud API 3.0 (`cdn`, Version 2018-06-06): `PushUrlsCache`, `DescribePushQuota`, `DescribePushTasks`.
//!
//! Takes URLs, credentials and `[cdn]` settings; returns task ids, quota and task progress, or a classified
//! [`PushError`]. Signing (TC3-HMAC-SHA256, TENCENT.md §3.6) and response parsing are pure functions so the
//! official example is a unit test. [`V3Provider`] makes one freshly signed attempt per call (real clock);
//! retries belong to the engine in [`crate::push`].
//!
//! Must never: sign with `PREWARM_NOW`, send a `Content-Type` other than the one signed (no `; charset=…`),
//! derive the date from local time, or put the SecretKey, the token or the signature into an error or a log line.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::client::{self, HttpReply};
use super::tencent_v2::real_unix_time;
use super::{Limits, Provider, PushError, RemoteQuota, Submitted, TaskState, UrlStatus};
use crate::config::{Area, CdnSettings, Method};
use crate::secret::{Credentials, Secret};

/// The API 3.0 version CDN uses.
pub const VERSION: &str = "2018-06-06";
/// The service name in the credential scope.
pub const SERVICE: &str = "cdn";
/// URLs per `PushUrlsCache` call ("每次最多可提交 500 条 URL").
pub const MAX_URLS_PER_CALL: usize = 500;
/// The Content-Type sent (and signed) for POST JSON, byte for byte.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The Content-Type sent (and signed) for GET.
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded";
/// Page size for `DescribePushTasks` (the API's default).
const TASK_PAGE: u64 = 20;
/// Safety cap on pages per task id.
const MAX_TASK_PAGES: u64 = 500;

/// What TC3 signs for one request.
#[derive(Debug, Clone, Copy)]
pub struct Tc3Input<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The `Host` header (with `:port` when not default).
    pub host: &'a str,
    /// The URL-encoded query string as sent (empty for POST).
    pub query: &'a str,
    /// The `Content-Type` header as sent.
    pub content_type: &'a str,
    /// The body (empty for GET).
    pub payload: &'a [u8],
    /// `X-TC-Timestamp` (Unix seconds).
    pub timestamp: i64,
    /// The service (`cdn`).
    pub service: &'a str,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The `CanonicalRequest` of §3.6: method, `/`, query, `content-type` and `host` headers, signed headers, body hash.
#[must_use]
pub fn canonical_request(i: &Tc3Input<'_>) -> String {
    format!(
        "{}\n/\n{}\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        i.method.to_ascii_uppercase(),
        i.query,
        i.content_type.trim().to_ascii_lowercase(),
        i.host.trim().to_ascii_lowercase(),
        sha256_hex(i.payload)
    )
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp; out-of-range timestamps give `1970-01-01`.
#[must_use]
pub fn utc_date(timestamp: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(timestamp)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The `StringToSign` of §3.6.
#[must_use]
pub fn string_to_sign(i: &Tc3Input<'_>) -> String {
    format!(
        "TC3-HMAC-SHA256\n{}\n{}/{}/tc3_request\n{}",
        i.timestamp,
        utc_date(i.timestamp),
        i.service,
        sha256_hex(canonical_request(i).as_bytes())
    )
}

/// The hex TC3 signature of `i` with `secret_key`.
#[must_use]
pub fn tc3_signature(secret_key: &Secret, i: &Tc3Input<'_>) -> String {
    let date = utc_date(i.timestamp);
    let k_date = hmac_sha256(
        format!("TC3{}", secret_key.expose()).as_bytes(),
        date.as_bytes(),
    );
    let k_service = hmac_sha256(&k_date, i.service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign(i).as_bytes()))
}

/// The `Authorization` header value for `i`.
#[must_use]
pub fn authorization(secret_id: &str, secret_key: &Secret, i: &Tc3Input<'_>) -> String {
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{}/{}/tc3_request, SignedHeaders=content-type;host, Signature={}",
        utc_date(i.timestamp),
        i.service,
        tc3_signature(secret_key, i)
    )
}

/// Flattens a JSON request into API 3.0 GET parameters: `Urls.0`, `Headers.0.Name`, booleans as `true`/`false`.
#[must_use]
pub fn flatten(value: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(&key(k), v, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(n, v)| walk(&key(&n.to_string()), v, out)),
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            Value::Null => {}
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The `PushUrlsCache` request body: `Urls`, `Area`, and `Layer`, `UserAgent`, `UrlEncode` (only when true),
/// `Headers` only when configured.
#[must_use]
pub fn push_body(cdn: &CdnSettings, urls: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("Urls".into(), json!(urls));
    m.insert("Area".into(), json!(cdn.area.as_str()));
    if let Some(layer) = &cdn.layer {
        m.insert("Layer".into(), json!(layer));
    }
    if let Some(ua) = &cdn.user_agent {
        m.insert("UserAgent".into(), json!(ua));
    }
    if cdn.url_encode {
        m.insert("UrlEncode".into(), json!(true));
    }
    if !cdn.headers.is_empty() {
        let headers: Vec<Value> = cdn
            .headers
            .iter()
            .map(|(n, v)| json!({"Name": n, "Value": v}))
            .collect();
        m.insert("Headers".into(), Value::Array(headers));
    }
    Value::Object(m)
}

fn area_hint(area: Area) -> String {
    format!(
        "the domain may not be accelerated in area {:?}: set cdn.area to the domain's acceleration region \
         (mainland, overseas or global)",
        area.as_str()
    )
}

/// Classifies a `Response.Error` per issue 4 §5.
#[must_use]
pub fn classify(code: &str, message: &str, area: Area) -> PushError {
    let detail = format!("{code}: {message}");
    let lower = message.to_ascii_lowercase();
    let starts = |p: &str| code == p || code.starts_with(&format!("{p}."));
    match code {
        "AuthFailure.SignatureExpire" => {
            return PushError::Expired(format!("{detail} (is this machine's clock right?)"));
        }
        "LimitExceeded.CdnPushExceedDayLimit" => return PushError::QuotaExceeded(detail),
        "LimitExceeded.CdnPushExceedBatchLimit" => return PushError::BatchTooLarge(detail),
        "UnauthorizedOperation.OperationTooOften" | "LimitExceeded.CdnHostOpTooOften" => {
            return PushError::Throttled(detail);
        }
        "ResourceInUse.CdnOpInProgress" => return PushError::Transient(detail),
        "ResourceNotFound.CdnHostNotExists"
        | "ResourceUnavailable.CdnHostIsNotOnline"
        | "ResourceUnavailable.CdnHostIsLocked"
        | "InvalidParameter.CdnHostInvalidStatus" => {
            return PushError::DomainRejected(format!("{detail} ({})", area_hint(area)));
        }
        // About the domain, not one URL: bisecting a one-domain batch would only repeat it per URL.
        "InvalidParameter.CdnHostInvalidParam" | "InvalidParameter.CdnPushWildcardNotAllowed" => {
            return PushError::DomainRejected(format!(
                "{detail} (the CDN refuses this domain for prefetch)"
            ));
        }
        "OperationDenied.ProductUpgraded"
        | "OperationDenied.UserMigrating"
        | "OperationDenied.ProductUpdating"
        | "ResourceNotFound.CdnUserNotExists" => {
            return PushError::Migrated(format!(
                "{detail} (the account's CDN has moved, or is moving, to EdgeOne: prefetch through EdgeOne instead)"
            ));
        }
        "MissingParameter"
        | "UnknownParameter"
        | "InvalidAction"
        | "NoSuchVersion"
        | "UnsupportedProtocol"
        | "UnsupportedRegion"
        | "UnsupportedOperation"
        | "ActionOffline" => return PushError::Other(detail),
        "IpInBlacklist" | "IpNotInWhitelist" => {
            return PushError::Auth(format!(
                "{detail} (the account's IP rules refuse this machine)"
            ));
        }
        _ => {}
    }
    if message.contains("未部署在")
        || lower.contains("not deployed")
        || lower.contains("area mismatch")
    {
        return PushError::DomainRejected(format!("{detail} ({})", area_hint(area)));
    }
    if starts("AuthFailure") {
        PushError::Auth(format!(
            "{detail} (the SecretId/SecretKey pair was refused: check both values, that the key is enabled, and \
             for stray whitespace)"
        ))
    } else if starts("UnauthorizedOperation") {
        PushError::Auth(format!(
            "{detail} (the key lacks a permission: grant the CAM action cdn:PushUrlsCache (and \
             cdn:DescribePushQuota, cdn:DescribePushTasks) on the domain)"
        ))
    } else if starts("RequestLimitExceeded") {
        PushError::Throttled(detail)
    } else if starts("InternalError") {
        PushError::Transient(detail)
    } else if starts("InvalidParameter") || starts("InvalidParameterValue") {
        PushError::InvalidParameter(detail)
    } else {
        PushError::Other(detail)
    }
}

/// Checks an API 3.0 reply and returns its `Response` object.
///
/// # Errors
/// HTTP 413 / 501 → [`PushError::BatchTooLarge`]; HTTP 5xx, a non-JSON body or one without `Response` → [`PushError::Transient`] (429 → throttled, other 4xx
/// non-JSON → [`PushError::Other`]); `Response.Error` → [`classify`].
pub fn parse_reply(status: u16, body: &str, area: Area) -> Result<Map<String, Value>, PushError> {
    if status == 413 || status == 501 {
        // What a front end answers for an oversized request (the GET limit is 32 KB).
        return Err(PushError::BatchTooLarge(format!(
            "http {status}: request too large"
        )));
    }
    if status == 429 {
        return Err(PushError::Throttled("http 429".into()));
    }
    if status >= 500 {
        return Err(PushError::Transient(format!(
            "http {status}: {}",
            client::snippet(body)
        )));
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        let what = format!(
            "http {status}: the reply is not JSON ({})",
            client::snippet(body)
        );
        return Err(if (200..300).contains(&status) || status == 408 {
            PushError::Transient(what)
        } else {
            PushError::Other(what)
        });
    };
    let Some(Value::Object(response)) = json.get("Response") else {
        return Err(PushError::Transient(format!(
            "http {status}: the reply has no \"Response\" object"
        )));
    };
    if let Some(err) = response.get("Error") {
        let code = err
            .get("Code")
            .and_then(Value::as_str)
            .unwrap_or("UnknownError");
        let message = err.get("Message").and_then(Value::as_str).unwrap_or("");
        return Err(classify(code, message, area));
    }
    Ok(response.clone())
}

fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The task id of a `PushUrlsCache` response (string or number; empty when absent).
#[must_use]
pub fn parse_submitted(response: &Map<String, Value>) -> Submitted {
    let task_id = id_string(response.get("TaskId")).unwrap_or_else(|| {
        // Accepted means quota spent: report it without an id rather than push it again.
        log::warn!("the CDN accepted a batch but sent no TaskId");
        String::new()
    });
    Submitted { task_id }
}

fn quota_entry(v: &Value) -> Option<RemoteQuota> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    Some(RemoteQuota {
        batch: n("Batch")?,
        total: n("Total")?,
        available: n("Available")?,
        area: v.get("Area").and_then(Value::as_str)?.to_ascii_lowercase(),
    })
}

/// The quota for `area` from a `DescribePushQuota` response (`UrlPush[]`); for `global`, the smaller of the
/// mainland and overseas entries. `None` when the area is not listed.
#[must_use]
pub fn parse_quota(response: &Map<String, Value>, area: Area) -> Option<RemoteQuota> {
    let entries: Vec<RemoteQuota> = response
        .get("UrlPush")?
        .as_array()?
        .iter()
        .filter_map(quota_entry)
        .collect();
    let find = |a: &str| entries.iter().find(|q| q.area == a).cloned();
    match area {
        Area::Mainland | Area::Overseas => find(area.as_str()),
        Area::Global => match (find("mainland"), find("overseas")) {
            (Some(m), Some(o)) => Some(RemoteQuota {
                batch: m.batch.min(o.batch),
                total: m.total.min(o.total),
                available: m.available.min(o.available),
                area: "global".into(),
            }),
            _ => find("global"),
        },
    }
}

/// A `DescribePushTasks` status, compared case-insensitively (the official example says `Done`).
#[must_use]
pub fn task_state(status: &str) -> TaskState {
    match status.to_ascii_lowercase().as_str() {
        "process" | "processing" | "inprocess" => TaskState::Process,
        "done" => TaskState::Done,
        "fail" | "failed" => TaskState::Fail,
        "invalid" => TaskState::Invalid,
        _ => TaskState::Other(status.to_string()),
    }
}

/// The URLs of one `DescribePushTasks` page and the `TotalCount`.
#[must_use]
pub fn parse_tasks(response: &Map<String, Value>) -> (Vec<UrlStatus>, u64) {
    let logs = response
        .get("PushLogs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let statuses = logs
        .iter()
        .map(|l| UrlStatus {
            task_id: id_string(l.get("TaskId")).unwrap_or_default(),
            url: l
                .get("Url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            state: task_state(l.get("Status").and_then(Value::as_str).unwrap_or_default()),
        })
        .collect();
    let total = response
        .get("TotalCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    (statuses, total)
}

/// API 3.0 provider (one attempt per call).
pub struct V3Provider {
    client: reqwest::blocking::Client,
    endpoint: url::Url,
    host: String,
    creds: Credentials,
    cdn: CdnSettings,
    retry_after: Option<Duration>,
}

impl std::fmt::Debug for V3Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V3Provider")
            .field("endpoint", &self.endpoint.as_str())
            .field("area", &self.cdn.area)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

impl V3Provider {
    /// A provider for `endpoint` (already checked by [`client::check_endpoint`]).
    #[must_use]
    pub fn new(
        client: reqwest::blocking::Client,
        endpoint: url::Url,
        creds: Credentials,
        cdn: &CdnSettings,
    ) -> Self {
        let host = client::host_header(&endpoint);
        Self {
            client,
            endpoint,
            host,
            creds,
            cdn: cdn.clone(),
            retry_after: None,
        }
    }

    /// One signed call of `action` with `params`; returns the `Response` object.
    fn call(&mut self, action: &str, params: &Value) -> Result<Map<String, Value>, PushError> {
        self.retry_after = None;
        let timestamp = i64::try_from(real_unix_time()).unwrap_or(0);
        let (mut url, content_type, query, payload) = match self.cdn.method {
            Method::Post => {
                let body = serde_json::to_vec(params)
                    .map_err(|e| PushError::Other(format!("encode: {e}")))?;
                (
                    self.endpoint.clone(),
                    CONTENT_TYPE_JSON,
                    String::new(),
                    body,
                )
            }
            Method::Get => {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(flatten(params))
                    .finish();
                (self.endpoint.clone(), CONTENT_TYPE_FORM, q, Vec::new())
            }
        };
        let input = Tc3Input {
            method: self.cdn.method.as_str(),
            host: &self.host,
            query: &query,
            content_type,
            payload: &payload,
            timestamp,
            service: SERVICE,
        };
        let auth = authorization(&self.creds.secret_id, &self.creds.secret_key, &input);
        let mut request = match self.cdn.method {
            Method::Post => self.client.post(url).body(payload),
            Method::Get => {
                url.set_query(if query.is_empty() { None } else { Some(&query) });
                self.client.get(url)
            }
        };
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string());
        if let Some(token) = &self.creds.token {
            request = request.header("X-TC-Token", token.expose());
        }
        let HttpReply {
            status,
            retry_after,
            body,
        } = client::send(request)?;
        self.retry_after = retry_after;
        parse_reply(status, &body, self.cdn.area)
    }
}

impl Provider for V3Provider {
    fn name(&self) -> &'static str {
        "tencent-v3"
    }

    fn limits(&self) -> Limits {
        Limits {
            per_request: MAX_URLS_PER_CALL,
        }
    }

    fn submit(&mut self, urls: &[String]) -> Result<Submitted, PushError> {
        let body = push_body(&self.cdn, urls);
        self.call("PushUrlsCache", &body)
            .map(|r| parse_submitted(&r))
    }

    fn remaining_quota(&mut self) -> Result<Option<RemoteQuota>, PushError> {
        let r = self.call("DescribePushQuota", &json!({}))?;
        Ok(parse_quota(&r, self.cdn.area))
    }

    fn task_status(&mut self, task_ids: &[String]) -> Result<Vec<UrlStatus>, PushError> {
        let mut out = Vec::new();
        for id in task_ids {
            let mut offset = 0u64;
            for _ in 0..MAX_TASK_PAGES {
                let params = json!({"TaskId": id, "Area": self.cdn.area.as_str(), "Offset": offset, "Limit": TASK_PAGE});
                let (page, total) = parse_tasks(&self.call("DescribePushTasks", &params)?);
                let n = page.len() as u64;
                out.extend(page);
                offset += n;
                if n == 0 || offset >= total {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const BODY: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn example() -> Tc3Input<'static> {
        Tc3Input {
            method: "POST",
            host: "cvm.tencentcloudapi.com",
            query: "",
            content_type: "application/json; charset=utf-8",
            payload: BODY.as_bytes(),
            timestamp: 1_551_113_065,
            service: "cvm",
        }
    }

    #[test]
    fn official_example_intermediates() {
        let i = example();
        assert_eq!(
            sha256_hex(i.payload),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            canonical_request(&i),
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            sha256_hex(canonical_request(&i).as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(utc_date(i.timestamp), "2019-02-25");
        assert_eq!(
            string_to_sign(&i),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
    }

    #[test]
    fn official_example_both_keys() {
        let i = example();
        assert_eq!(
            tc3_signature(&Secret::new("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"), &i),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            tc3_signature(&Secret::new("Gu5t9xGARNpq86cd98joQYCN3*******"), &i),
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
        assert_eq!(
            tc3_signature(&Secret::new("Gu5t9xGARNpq86cd98joQYCN3Cozk1qA"), &i),
            "8571a3fd5c5a24cb2b8e10509e02add887e49e59370eed066496522e687e8f6b"
        );
        assert_eq!(
            authorization(
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                &Secret::new("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
                &i
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn date_is_utc_not_beijing() {
        // 2024-03-01T16:30:00Z is 2024-03-02 in Beijing, but the TC3 date is the UTC one.
        assert_eq!(utc_date(1_709_310_600), "2024-03-01");
    }

    #[test]
    fn get_signs_query_and_empty_body() {
        let i = Tc3Input {
            method: "GET",
            host: "127.0.0.1:8080",
            query: "Area=overseas&Urls.0=https%3A%2F%2Fa.com%2F",
            content_type: CONTENT_TYPE_FORM,
            payload: b"",
            timestamp: 1,
            service: SERVICE,
        };
        let c = canonical_request(&i);
        assert!(c.starts_with("GET\n/\nArea=overseas&Urls.0=https%3A%2F%2Fa.com%2F\ncontent-type:application/x-www-form-urlencoded\nhost:127.0.0.1:8080\n"), "{c}");
        assert!(
            c.ends_with("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "{c}"
        );
    }

    fn cdn() -> CdnSettings {
        crate::config::Settings::with_defaults(PathBuf::from("/tmp")).cdn
    }

    #[test]
    fn push_body_fields() {
        let mut c = cdn();
        let urls = vec!["https://a.com/1".to_string()];
        assert_eq!(
            push_body(&c, &urls),
            json!({"Urls": ["https://a.com/1"], "Area": "overseas"})
        );
        c.layer = Some("middle".into());
        c.user_agent = Some("UA".into());
        c.url_encode = true;
        c.headers = vec![("X-A".into(), "1".into())];
        c.area = Area::Global;
        assert_eq!(
            push_body(&c, &urls),
            json!({"Urls": ["https://a.com/1"], "Area": "global", "Layer": "middle", "UserAgent": "UA",
                   "UrlEncode": true, "Headers": [{"Name": "X-A", "Value": "1"}]})
        );
        let flat = flatten(&push_body(&c, &urls));
        assert!(flat.contains(&("Urls.0".into(), "https://a.com/1".into())));
        assert!(flat.contains(&("Headers.0.Name".into(), "X-A".into())));
        assert!(flat.contains(&("UrlEncode".into(), "true".into())));
    }

    #[test]
    fn replies() {
        let ok = parse_reply(
            200,
            r#"{"Response":{"TaskId":"15475444535871929928456","RequestId":"r"}}"#,
            Area::Overseas,
        )
        .unwrap();
        assert_eq!(parse_submitted(&ok).task_id, "15475444535871929928456");
        let ok = parse_reply(
            200,
            r#"{"Response":{"TaskId":42,"RequestId":"r"}}"#,
            Area::Overseas,
        )
        .unwrap();
        assert_eq!(parse_submitted(&ok).task_id, "42");
        let err = parse_reply(
            200,
            r#"{"Response":{"Error":{"Code":"LimitExceeded.CdnPushExceedDayLimit","Message":"day"},"RequestId":"r"}}"#,
            Area::Overseas,
        );
        assert!(
            matches!(err, Err(PushError::QuotaExceeded(m)) if m.contains("CdnPushExceedDayLimit"))
        );
        assert!(matches!(
            parse_reply(200, "<html>", Area::Mainland),
            Err(PushError::Transient(_))
        ));
        assert!(matches!(
            parse_reply(502, "{}", Area::Mainland),
            Err(PushError::Transient(_))
        ));
        assert!(matches!(
            parse_reply(200, "{}", Area::Mainland),
            Err(PushError::Transient(_))
        ));
        assert!(matches!(
            parse_reply(403, "<html>", Area::Mainland),
            Err(PushError::Other(_))
        ));
        assert!(matches!(
            parse_reply(413, "", Area::Mainland),
            Err(PushError::BatchTooLarge(_))
        ));
        assert!(matches!(
            parse_reply(501, "", Area::Mainland),
            Err(PushError::BatchTooLarge(_))
        ));
    }

    #[test]
    fn classification_table() {
        let cases: &[(&str, &str)] = &[
            ("AuthFailure.SignatureFailure", "auth"),
            ("AuthFailure.SecretIdNotFound", "auth"),
            ("AuthFailure.TokenFailure", "auth"),
            ("UnauthorizedOperation.CdnCamUnauthorized", "auth"),
            ("UnauthorizedOperation.CdnHostUnauthorized", "auth"),
            ("AuthFailure.SignatureExpire", "expired"),
            ("LimitExceeded.CdnPushExceedDayLimit", "quota"),
            ("LimitExceeded.CdnPushExceedBatchLimit", "large"),
            ("RequestLimitExceeded", "throttled"),
            ("RequestLimitExceeded.UinLimitExceeded", "throttled"),
            (
                "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
                "throttled",
            ),
            ("UnauthorizedOperation.OperationTooOften", "throttled"),
            ("InternalError", "transient"),
            ("InternalError.CdnSystemError", "transient"),
            ("InvalidParameter.CdnParamError", "invalid"),
            ("InvalidParameter.CdnUrlExceedLength", "invalid"),
            ("InvalidParameterValue", "invalid"),
            ("ResourceNotFound.CdnHostNotExists", "domain"),
            ("ResourceUnavailable.CdnHostIsNotOnline", "domain"),
            ("InvalidParameter.CdnHostInvalidParam", "domain"),
            ("InvalidParameter.CdnPushWildcardNotAllowed", "domain"),
            ("OperationDenied.ProductUpgraded", "migrated"),
            ("OperationDenied.UserMigrating", "migrated"),
            ("OperationDenied.ProductUpdating", "migrated"),
            ("ResourceNotFound.CdnUserNotExists", "migrated"),
            ("MissingParameter", "other"),
            ("FailedOperation", "other"),
        ];
        for (code, want) in cases {
            let got = classify(code, "msg", Area::Overseas);
            let kind = match &got {
                PushError::Auth(_) => "auth",
                PushError::Migrated(_) => "migrated",
                PushError::QuotaExceeded(_) => "quota",
                PushError::BatchTooLarge(_) => "large",
                PushError::Throttled(_) => "throttled",
                PushError::DomainRejected(_) => "domain",
                PushError::Expired(_) => "expired",
                PushError::Transient(_) => "transient",
                PushError::InvalidParameter(_) => "invalid",
                PushError::Other(_) => "other",
            };
            assert_eq!(kind, *want, "{code}: {got}");
            assert!(got.to_string().contains(code), "{got}");
        }
        let m = classify(
            "UnauthorizedOperation.CdnCamUnauthorized",
            "no",
            Area::Overseas,
        )
        .to_string();
        assert!(m.contains("cdn:PushUrlsCache"), "{m}");
        let m = classify("ResourceNotFound.CdnHostNotExists", "no", Area::Overseas).to_string();
        assert!(m.contains("cdn.area") && m.contains("overseas"), "{m}");
        let m = classify(
            "InvalidParameter.CdnParamError",
            "域名 a.com 未部署在 mainland",
            Area::Mainland,
        );
        assert!(matches!(m, PushError::DomainRejected(_)), "{m}");
    }

    #[test]
    fn quota_parsing() {
        let r = parse_reply(
            200,
            r#"{"Response":{"UrlPush":[{"Batch":500,"Total":1000,"Available":700,"Area":"mainland"},
                                       {"Batch":500,"Total":1000,"Available":300,"Area":"overseas"}],"RequestId":"x"}}"#,
            Area::Global,
        )
        .unwrap();
        let q = |a| parse_quota(&r, a).unwrap();
        assert_eq!(q(Area::Mainland).available, 700);
        assert_eq!(q(Area::Overseas).available, 300);
        assert_eq!(
            q(Area::Global),
            RemoteQuota {
                batch: 500,
                total: 1000,
                available: 300,
                area: "global".into()
            }
        );
        let empty = parse_reply(200, r#"{"Response":{"UrlPush":[]}}"#, Area::Global).unwrap();
        assert_eq!(parse_quota(&empty, Area::Overseas), None);
    }

    #[test]
    fn task_parsing() {
        let r = parse_reply(
            200,
            r#"{"Response":{"PushLogs":[
                {"TaskId":"t1","Url":"https://a.com/1","Status":"Done","Percent":100,"CreateTime":"x","Area":"overseas"},
                {"TaskId":"t1","Url":"https://a.com/2","Status":"process"},
                {"TaskId":"t1","Url":"https://a.com/3","Status":"FAIL"},
                {"TaskId":"t1","Url":"https://a.com/4","Status":"invalid"},
                {"TaskId":"t1","Url":"https://a.com/5","Status":"weird"}],"TotalCount":7,"RequestId":"x"}}"#,
            Area::Overseas,
        )
        .unwrap();
        let (page, total) = parse_tasks(&r);
        assert_eq!(total, 7);
        let states: Vec<TaskState> = page.into_iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [
                TaskState::Done,
                TaskState::Process,
                TaskState::Fail,
                TaskState::Invalid,
                TaskState::Other("weird".into())
            ]
        );
    }

    mod wire {
        use std::path::PathBuf;

        use super::super::*;
        use crate::config::Settings;
        use crate::push::client::{build_client, check_endpoint, test_server};

        fn provider(base: &str, method: Method, token: bool) -> V3Provider {
            let mut s = Settings::with_defaults(PathBuf::from("/tmp"));
            s.cdn.method = method;
            s.cdn.area = Area::Global;
            let creds = Credentials {
                secret_id: "AKIDv3".into(),
                secret_key: Secret::new("v3-secret-key"),
                token: token.then(|| Secret::new("v3-token")),
            };
            let endpoint = check_endpoint(&format!("{base}/")).unwrap();
            V3Provider::new(build_client(&s.push).unwrap(), endpoint, creds, &s.cdn)
        }

        /// Recomputes the signature from what the server saw.
        fn verify(r: &test_server::Received, host: &str, action: &str) {
            assert_eq!(r.header("host"), Some(host));
            assert_eq!(r.header("x-tc-action"), Some(action));
            assert_eq!(r.header("x-tc-version"), Some(VERSION));
            let ts: i64 = r.header("x-tc-timestamp").unwrap().parse().unwrap();
            let input = Tc3Input {
                method: &r.method,
                host,
                query: r.query(),
                content_type: r.header("content-type").unwrap(),
                payload: &r.body,
                timestamp: ts,
                service: SERVICE,
            };
            assert_eq!(
                r.header("authorization"),
                Some(authorization("AKIDv3", &Secret::new("v3-secret-key"), &input).as_str())
            );
        }

        #[test]
        fn post_json_push_is_signed_with_the_exact_content_type() {
            let (base, rx) = test_server::start(vec![Some((
                200,
                r#"{"Response":{"TaskId":"123","RequestId":"r"}}"#.into(),
            ))]);
            let host = base.trim_start_matches("http://").to_string();
            let mut p = provider(&base, Method::Post, true);
            assert_eq!(
                p.submit(&["https://a.com/1".into()]),
                Ok(Submitted {
                    task_id: "123".into()
                })
            );
            let r = rx.recv().unwrap();
            assert_eq!(r.method, "POST");
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.header("x-tc-token"), Some("v3-token"));
            verify(&r, &host, "PushUrlsCache");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body, json!({"Urls": ["https://a.com/1"], "Area": "global"}));
        }

        #[test]
        fn get_is_signed_over_the_query() {
            let (base, rx) = test_server::start(vec![Some((
                200,
                r#"{"Response":{"TaskId":"9","RequestId":"r"}}"#.into(),
            ))]);
            let host = base.trim_start_matches("http://").to_string();
            let mut p = provider(&base, Method::Get, false);
            assert_eq!(p.submit(&["https://a.com/1".into()]).unwrap().task_id, "9");
            let r = rx.recv().unwrap();
            assert_eq!(r.method, "GET");
            assert_eq!(r.header("content-type"), Some(CONTENT_TYPE_FORM));
            assert_eq!(r.header("x-tc-token"), None);
            assert!(
                r.query().contains("Urls.0=https%3A%2F%2Fa.com%2F1"),
                "{}",
                r.query()
            );
            verify(&r, &host, "PushUrlsCache");
        }

        #[test]
        fn quota_and_paged_task_status() {
            let (base, rx) = test_server::start(vec![
                Some((200, r#"{"Response":{"UrlPush":[{"Batch":500,"Total":1000,"Available":900,"Area":"mainland"},{"Batch":500,"Total":1000,"Available":40,"Area":"overseas"}]}}"#.into())),
                Some((200, r#"{"Response":{"PushLogs":[{"TaskId":"t","Url":"https://a.com/1","Status":"Done"},{"TaskId":"t","Url":"https://a.com/2","Status":"Process"}],"TotalCount":3}}"#.into())),
                Some((200, r#"{"Response":{"PushLogs":[{"TaskId":"t","Url":"https://a.com/3","Status":"fail"}],"TotalCount":3}}"#.into())),
            ]);
            let mut p = provider(&base, Method::Post, false);
            let q = p.remaining_quota().unwrap().unwrap();
            assert_eq!((q.available, q.area.as_str()), (40, "global"));
            assert_eq!(
                rx.recv().unwrap().header("x-tc-action"),
                Some("DescribePushQuota")
            );
            let st = p.task_status(&["t".into()]).unwrap();
            assert_eq!(st.len(), 3);
            assert_eq!(st[2].state, TaskState::Fail);
            let r1: Value = serde_json::from_slice(&rx.recv().unwrap().body).unwrap();
            let r2: Value = serde_json::from_slice(&rx.recv().unwrap().body).unwrap();
            assert_eq!(r1["TaskId"], "t");
            assert_eq!(r1["Area"], "global");
            assert_eq!(
                (r1["Offset"].as_u64(), r2["Offset"].as_u64()),
                (Some(0), Some(2))
            );
        }

        #[test]
        fn errors_come_back_classified() {
            let (base, _rx) = test_server::start(vec![
                Some((200, r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"r"}}"#.into())),
                Some((503, "<html>down</html>".into())),
            ]);
            let mut p = provider(&base, Method::Post, false);
            assert!(matches!(
                p.submit(&["https://a.com/".into()]),
                Err(PushError::Auth(_))
            ));
            assert!(matches!(
                p.submit(&["https://a.com/".into()]),
                Err(PushError::Transient(_))
            ));
        }
    }
}
