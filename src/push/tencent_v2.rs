//! Tencent Cloud API 2.0: `CdnOverseaPushser` (and its siblings) on `https://cdn.api.qcloud.com/v2/index.php`.
//!
//! Takes URLs, credentials and `[cdn]` settings; returns a [`Submitted`] task id or a classified [`PushError`].
//! Signing ([`sign_v2`], [`string_to_sign`]) and response parsing ([`parse_response`], [`classify`]) are pure, so
//! the known-answer vectors of TENCENT.md §1.2 are unit tests. [`V2Provider`] makes exactly one freshly signed
//! attempt per call (real clock, new Nonce); retries belong to the engine in [`crate::push`].
//!
//! Must never: sign with `PREWARM_NOW`, reuse a Nonce, URL-encode values before signing, or put the SecretKey,
//! the token or the signature into an error or a log line.
//!
//! `SignatureMethod` is **always sent** (`HmacSHA1` or `HmacSHA256`), and so always signed: the spec allows it
//! either way ("when sent it is signed"), and sending it always makes both methods go through one code path.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;

use super::client::{self, HttpReply};
use super::{Limits, Provider, PushError, Submitted};
use crate::config::{CdnSettings, Method, SignatureMethod};
use crate::secret::{Credentials, Secret};

/// URLs per call, as CdnOverseaPushser documents ("up to 20 URLs for one time").
pub const MAX_URLS_PER_CALL: usize = 20;

/// The API's spelling of a signature method.
#[must_use]
pub fn signature_method_name(sig: SignatureMethod) -> &'static str {
    match sig {
        SignatureMethod::HmacSha1 => "HmacSHA1",
        SignatureMethod::HmacSha256 => "HmacSHA256",
    }
}

/// The string API 2.0 signs: `METHOD + host + path + "?" + name=value&…`, names with `_` renamed to `.`, sorted
/// bytewise, raw (not URL-encoded) values (TENCENT.md §1.1). The method is upper-cased.
#[must_use]
pub fn string_to_sign(method: &str, host: &str, path: &str, params: &[(String, String)]) -> String {
    let mut renamed: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    // Rename first, then sort (the Python SDK's order); `sort` on String compares bytes.
    renamed.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = renamed.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}{host}{path}?{}",
        method.to_ascii_uppercase(),
        query.join("&")
    )
}

/// The base64 API 2.0 signature of `params` for a request to `host` + `path` (TENCENT.md §1.1).
#[must_use]
pub fn sign_v2(
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
    key: &Secret,
    sig: SignatureMethod,
) -> String {
    let source = string_to_sign(method, host, path, params);
    let digest = match sig {
        SignatureMethod::HmacSha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.expose().as_bytes())
                .expect("hmac takes any key length");
            mac.update(source.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        SignatureMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
                .expect("hmac takes any key length");
            mac.update(source.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// What one call needs besides the URLs.
#[derive(Debug, Clone)]
pub struct CallParams<'a> {
    /// `Action`.
    pub action: &'a str,
    /// `Timestamp` (Unix seconds, real clock).
    pub timestamp: u64,
    /// `Nonce` (positive).
    pub nonce: u64,
    /// `SignatureMethod`.
    pub signature_method: SignatureMethod,
    /// `Region`, when configured.
    pub region: Option<&'a str>,
}

/// All parameters of a push call except `Signature`: the common ones, `Token` when set, and `urls.0 … urls.N`.
#[must_use]
pub fn build_params(
    call: &CallParams<'_>,
    creds: &Credentials,
    urls: &[String],
) -> Vec<(String, String)> {
    let mut p = vec![
        ("Action".to_string(), call.action.to_string()),
        ("Timestamp".to_string(), call.timestamp.to_string()),
        ("Nonce".to_string(), call.nonce.to_string()),
        ("SecretId".to_string(), creds.secret_id.clone()),
        (
            "SignatureMethod".to_string(),
            signature_method_name(call.signature_method).to_string(),
        ),
    ];
    if let Some(region) = call.region {
        p.push(("Region".to_string(), region.to_string()));
    }
    if let Some(token) = &creds.token {
        p.push(("Token".to_string(), token.expose().to_string()));
    }
    p.extend(
        urls.iter()
            .enumerate()
            .map(|(i, u)| (format!("urls.{i}"), u.clone())),
    );
    p
}

/// The module error code in a v2 `message`, e.g. `23101` in `"(23101)URL预热超出当日额度限制"`.
#[must_use]
pub fn module_code(message: &str) -> Option<u64> {
    let start = message.find('(')?;
    let rest = &message[start + 1..];
    let end = rest.find(')')?;
    let digits = rest[..end].trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Classifies a failed v2 response (`code` ≠ 0) per issue 3; the module code in `message` wins over `code`.
#[must_use]
pub fn classify(code: i64, message: &str, code_desc: &str) -> PushError {
    let detail = if code_desc.is_empty() {
        format!("code {code}: {message}")
    } else {
        format!("code {code} ({code_desc}): {message}")
    };
    if let Some(m) = module_code(message) {
        match m {
            23101 | 21000 => return PushError::QuotaExceeded(detail),
            23100 | 21002 => return PushError::BatchTooLarge(detail),
            9163 | 22063 => return PushError::Throttled(detail),
            9105 | 9110 | 9307 | 9111 | 9112 | 22041 | 28006 | 28008 => {
                return PushError::DomainRejected(detail);
            }
            // 域名格式不合法: about the domain, so bisecting a one-domain batch would not help.
            9107 | 9303 | 20005 | 22701 => return PushError::DomainRejected(detail),
            23103 | 25002 | 25010 | 9169 | 9170 => {
                return PushError::Auth(format!(
                    "{detail} (the account or key may not use this API or this domain)"
                ));
            }
            _ => {}
        }
    }
    // `(1012)传参错误 invalid error code[域名 luan.ma 未部署在 mainland]`: the domain is not in that area.
    if message.contains("未部署在") || message.to_ascii_lowercase().contains("not deployed") {
        return PushError::DomainRejected(format!(
            "{detail} (the domain is not accelerated in the area this action pushes to)"
        ));
    }
    match code {
        4100..=4110 | 4300 => PushError::Auth(format!(
            "{detail} (check the SecretId and SecretKey, that the key is enabled, and that a sub-user may call \
             this API)"
        )),
        4400 => PushError::QuotaExceeded(detail),
        4200 | 4500 => PushError::Expired(detail),
        5100 | 6000 | 6200 => PushError::Transient(detail),
        4000 => PushError::InvalidParameter(detail),
        _ => PushError::Other(detail),
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Task ids from a success `data`: an object with `task_id` or `task_ids: [{task_id}]`, or an array of those.
fn collect_task_ids(data: &Value, out: &mut Vec<String>) {
    match data {
        Value::Array(items) => items.iter().for_each(|i| collect_task_ids(i, out)),
        Value::Object(map) => {
            if let Some(id) = map.get("task_id").and_then(id_string) {
                out.push(id);
            }
            if let Some(ids) = map.get("task_ids") {
                match ids {
                    Value::Array(items) => items.iter().for_each(|i| match i {
                        Value::Object(_) => collect_task_ids(i, out),
                        other => out.extend(id_string(other)),
                    }),
                    other => out.extend(id_string(other)),
                }
            }
        }
        _ => {}
    }
}

/// Parses a v2 reply: `code` 0 → the task id(s) (joined with `,` when the CDN split the batch into several);
/// otherwise the classified error. A 5xx or a non-JSON body (an HTML error page, even with status 200) is
/// [`PushError::Transient`]; HTTP 501 is what the API answers for an oversized request, so it is
/// [`PushError::BatchTooLarge`].
///
/// # Errors
/// The classified failure.
pub fn parse_response(status: u16, body: &str) -> Result<Submitted, PushError> {
    if status == 501 || status == 413 {
        return Err(PushError::BatchTooLarge(format!(
            "http {status}: request too large"
        )));
    }
    if status == 429 {
        return Err(PushError::Throttled("http 429".into()));
    }
    if status >= 500 {
        return Err(PushError::Transient(format!("http {status}")));
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
    let Some(code) = json.get("code").and_then(as_i64) else {
        return Err(PushError::Transient(format!(
            "http {status}: the reply has no numeric \"code\""
        )));
    };
    if code != 0 {
        let message = json.get("message").and_then(Value::as_str).unwrap_or("");
        let code_desc = json.get("codeDesc").and_then(Value::as_str).unwrap_or("");
        return Err(classify(code, message, code_desc));
    }
    let mut ids = Vec::new();
    if let Some(data) = json.get("data") {
        collect_task_ids(data, &mut ids);
    }
    if ids.is_empty() {
        // The CDN said yes: the quota is spent. Report the task without an id rather than push it again.
        log::warn!("the CDN accepted a batch but sent no task id");
    }
    Ok(Submitted {
        task_id: ids.join(","),
    })
}

/// API 2.0 push provider (one attempt per [`Provider::submit`]).
pub struct V2Provider {
    client: reqwest::blocking::Client,
    endpoint: url::Url,
    host: String,
    creds: Credentials,
    action: String,
    method: Method,
    signature_method: SignatureMethod,
    region: Option<String>,
    retry_after: Option<std::time::Duration>,
}

impl std::fmt::Debug for V2Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2Provider")
            .field("endpoint", &self.endpoint.as_str())
            .field("action", &self.action)
            .field("method", &self.method)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

impl V2Provider {
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
            action: cdn.action.clone(),
            method: cdn.method,
            signature_method: cdn.signature_method,
            region: cdn.region.clone(),
            retry_after: None,
        }
    }
}

/// Seconds since the epoch from the real clock (never `PREWARM_NOW`: the server rejects stale timestamps).
pub(crate) fn real_unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Provider for V2Provider {
    fn name(&self) -> &'static str {
        "tencent-v2"
    }

    fn limits(&self) -> Limits {
        Limits {
            per_request: MAX_URLS_PER_CALL,
        }
    }

    fn submit(&mut self, urls: &[String]) -> Result<Submitted, PushError> {
        self.retry_after = None;
        let call = CallParams {
            action: &self.action,
            timestamp: real_unix_time(),
            nonce: rand::thread_rng().gen_range(1..=u64::from(u32::MAX >> 1)),
            signature_method: self.signature_method,
            region: self.region.as_deref(),
        };
        let mut params = build_params(&call, &self.creds, urls);
        let signature = sign_v2(
            self.method.as_str(),
            &self.host,
            self.endpoint.path(),
            &params,
            &self.creds.secret_key,
            self.signature_method,
        );
        params.push(("Signature".to_string(), signature));
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let request = match self.method {
            Method::Post => self
                .client
                .post(self.endpoint.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(encoded),
            Method::Get => {
                let mut url = self.endpoint.clone();
                url.set_query(Some(&encoded));
                self.client.get(url)
            }
        };
        let HttpReply {
            status,
            retry_after,
            body,
        } = client::send(request)?;
        self.retry_after = retry_after;
        parse_response(status, &body)
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    const CVM_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";

    fn cvm_a(sig: &str) -> Vec<(String, String)> {
        p(&[
            ("Action", "DescribeInstances"),
            ("InstanceIds.0", "ins-09dx96dg"),
            ("Nonce", "11886"),
            ("Region", "ap-guangzhou"),
            ("SecretId", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"),
            ("SignatureMethod", sig),
            ("Timestamp", "1465185768"),
        ])
    }

    #[test]
    fn cvm_a_source_string_and_both_methods() {
        let params = cvm_a("HmacSHA256");
        assert_eq!(
            string_to_sign("GET", "cvm.api.qcloud.com", "/v2/index.php", &params),
            "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Nonce=11886&\
             Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&SignatureMethod=HmacSHA256&\
             Timestamp=1465185768"
        );
        let key = Secret::new(CVM_KEY);
        let s256 = sign_v2(
            "GET",
            "cvm.api.qcloud.com",
            "/v2/index.php",
            &params,
            &key,
            SignatureMethod::HmacSha256,
        );
        assert_eq!(s256, "0EEm/HtGRr/VJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s=");
        let encoded: String = url::form_urlencoded::byte_serialize(s256.as_bytes()).collect();
        assert_eq!(
            encoded,
            "0EEm%2FHtGRr%2FVJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s%3D"
        );

        let params = cvm_a("HmacSHA1");
        let s1 = sign_v2(
            "GET",
            "cvm.api.qcloud.com",
            "/v2/index.php",
            &params,
            &key,
            SignatureMethod::HmacSha1,
        );
        assert_eq!(s1, "nPVnY6njQmwQ8ciqbPl5Qe+Oru4=");
        let encoded: String = url::form_urlencoded::byte_serialize(s1.as_bytes()).collect();
        assert_eq!(encoded, "nPVnY6njQmwQ8ciqbPl5Qe%2BOru4%3D");
    }

    const CDN_KEY: &str = "pxPgRWDbCy86ZYyqBTDk7WmeRZSmPco0";
    const CDN_ID: &str = "AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D";

    #[test]
    fn cdn_b_get_post_and_sha256() {
        // Deliberately out of order: the signer sorts.
        let params = p(&[
            ("offset", "0"),
            ("limit", "10"),
            ("Timestamp", "1463122059"),
            ("SecretId", CDN_ID),
            ("Nonce", "13029"),
            ("Action", "DescribeCdnHosts"),
        ]);
        assert_eq!(
            string_to_sign("GET", "cdn.api.qcloud.com", "/v2/index.php", &params),
            "GETcdn.api.qcloud.com/v2/index.php?Action=DescribeCdnHosts&Nonce=13029&\
             SecretId=AKIDT8G5AsY1D3MChWooNq1rFSw1fyBVCX9D&Timestamp=1463122059&limit=10&offset=0"
        );
        let key = Secret::new(CDN_KEY);
        let h = "cdn.api.qcloud.com";
        let path = "/v2/index.php";
        assert_eq!(
            sign_v2("GET", h, path, &params, &key, SignatureMethod::HmacSha1),
            "bWMMAR1eFGjZ5KWbfxTlBiLiNLc="
        );
        assert_eq!(
            sign_v2("POST", h, path, &params, &key, SignatureMethod::HmacSha1),
            "i/KcLp6VaOtUmVtT0dqtLpKJOkg="
        );
        let params = p(&[
            ("Action", "DescribeCdnHosts"),
            ("Nonce", "48059"),
            ("SecretId", CDN_ID),
            ("SignatureMethod", "HmacSHA256"),
            ("Timestamp", "1502197934"),
            ("limit", "10"),
            ("offset", "0"),
        ]);
        assert_eq!(
            sign_v2("GET", h, path, &params, &key, SignatureMethod::HmacSha256),
            "b/HlnO7vWEtR/kf21BvF0fX4vGmIThwWxlaD5GQtlSM="
        );
    }

    fn sdk_params(sig: &str) -> Vec<(String, String)> {
        p(&[
            ("Action", "DescribeInstances"),
            ("Nonce", "1290303896666895346"),
            ("Region", "ap-guangzhou"),
            ("SecretId", "secretIdFoo"),
            ("SignatureMethod", sig),
            ("Timestamp", "1512393162"),
            ("Version", "2017-03-12"),
        ])
    }

    #[test]
    fn sdk_unit_test_vectors() {
        let key = Secret::new("secretKeyBar");
        let h = "cvm.api.qcloud.com";
        let path = "/v2/index.php";
        let sha1 = sdk_params("HmacSHA1");
        assert_eq!(
            sign_v2("POST", h, path, &sha1, &key, SignatureMethod::HmacSha1),
            "p3n+pxBqF5JGZtDSxoVn5tGngf0="
        );
        // The method may be passed in lower case.
        assert_eq!(
            sign_v2("post", h, path, &sha1, &key, SignatureMethod::HmacSha1),
            "p3n+pxBqF5JGZtDSxoVn5tGngf0="
        );
        assert_eq!(
            sign_v2("GET", h, path, &sha1, &key, SignatureMethod::HmacSha1),
            "5HAq1BOKNLEE2/uauWnp6Zv9Z3c="
        );
        let sha256 = sdk_params("HmacSHA256");
        assert_eq!(
            sign_v2("POST", h, path, &sha256, &key, SignatureMethod::HmacSha256),
            "B2T37FRSP6Fk0/q/cdfrTE0p3zX5ooB/2BPWZUFpsj4="
        );
    }

    #[test]
    fn underscores_in_names_become_dots_and_values_are_untouched() {
        let key = Secret::new(CDN_KEY);
        let dotted = p(&[
            ("Action", "CdnOverseaPushser"),
            ("urls.0", "http://a.com/x_y z"),
        ]);
        let under = p(&[
            ("Action", "CdnOverseaPushser"),
            ("urls_0", "http://a.com/x_y z"),
        ]);
        assert_eq!(
            string_to_sign("POST", "h", "/p", &under),
            "POSTh/p?Action=CdnOverseaPushser&urls.0=http://a.com/x_y z"
        );
        assert_eq!(
            sign_v2("POST", "h", "/p", &dotted, &key, SignatureMethod::HmacSha1),
            sign_v2("POST", "h", "/p", &under, &key, SignatureMethod::HmacSha1)
        );
    }

    #[test]
    fn sort_is_lexicographic_not_numeric() {
        let urls: Vec<String> = (0..11).map(|i| format!("http://a.com/{i}")).collect();
        let call = CallParams {
            action: "CdnOverseaPushser",
            timestamp: 1,
            nonce: 2,
            signature_method: SignatureMethod::HmacSha1,
            region: None,
        };
        let creds = Credentials {
            secret_id: "id".into(),
            secret_key: Secret::new("k"),
            token: None,
        };
        let s = string_to_sign("POST", "h", "/p", &build_params(&call, &creds, &urls));
        let i10 = s.find("urls.10=").unwrap();
        let i2 = s.find("urls.2=").unwrap();
        let i1 = s.find("urls.1=").unwrap();
        assert!(i1 < i10 && i10 < i2, "{s}");
        // Upper case before lower case.
        assert!(s.starts_with("POSTh/p?Action=CdnOverseaPushser&Nonce=2&SecretId=id&SignatureMethod=HmacSHA1&Timestamp=1&urls.0="));
    }

    #[test]
    fn params_include_region_and_token_only_when_set() {
        let call = CallParams {
            action: "CdnOverseaPushser",
            timestamp: 10,
            nonce: 7,
            signature_method: SignatureMethod::HmacSha256,
            region: Some("ap-guangzhou"),
        };
        let creds = Credentials {
            secret_id: "id".into(),
            secret_key: Secret::new("k"),
            token: Some(Secret::new("tk")),
        };
        let params = build_params(&call, &creds, &["http://a.com/".to_string()]);
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Action",
                "Timestamp",
                "Nonce",
                "SecretId",
                "SignatureMethod",
                "Region",
                "Token",
                "urls.0"
            ]
        );
        assert!(params.contains(&("SignatureMethod".into(), "HmacSHA256".into())));
        let creds = Credentials {
            token: None,
            ..creds
        };
        let call = CallParams {
            region: None,
            ..call
        };
        let params = build_params(&call, &creds, &[]);
        assert!(!params.iter().any(|(k, _)| k == "Region" || k == "Token"));
    }

    #[test]
    fn success_data_object_array_string_and_number_ids() {
        let r = parse_response(
            200,
            r#"{"code":0,"message":"","codeDesc":"Success","data":{"task_id":"abc"}}"#,
        );
        assert_eq!(
            r,
            Ok(Submitted {
                task_id: "abc".into()
            })
        );
        let r = parse_response(
            200,
            r#"{"code":0,"data":[{"task_id":7,"date":"2016-06-21 20:24:47"}]}"#,
        );
        assert_eq!(
            r,
            Ok(Submitted {
                task_id: "7".into()
            })
        );
        let r = parse_response(
            200,
            r#"{"code":0,"data":{"task_ids":[{"task_id":1,"date":"20240101"},{"task_id":"2"}]}}"#,
        );
        assert_eq!(
            r,
            Ok(Submitted {
                task_id: "1,2".into()
            })
        );
        let r = parse_response(200, r#"{"code":"0","data":{"count":1}}"#);
        assert_eq!(
            r,
            Ok(Submitted {
                task_id: String::new()
            })
        );
    }

    #[test]
    fn html_and_5xx_are_transient_501_is_too_large() {
        assert!(matches!(
            parse_response(200, "<html>502 Bad Gateway</html>"),
            Err(PushError::Transient(_))
        ));
        assert!(matches!(
            parse_response(502, "<html></html>"),
            Err(PushError::Transient(_))
        ));
        assert!(matches!(
            parse_response(503, r#"{"code":0}"#),
            Err(PushError::Transient(_))
        ));
        assert!(matches!(
            parse_response(501, ""),
            Err(PushError::BatchTooLarge(_))
        ));
        assert!(matches!(
            parse_response(413, ""),
            Err(PushError::BatchTooLarge(_))
        ));
        assert!(matches!(
            parse_response(429, ""),
            Err(PushError::Throttled(_))
        ));
        assert!(matches!(
            parse_response(404, "<html>not found</html>"),
            Err(PushError::Other(_))
        ));
    }

    #[test]
    fn module_codes() {
        assert_eq!(module_code("(23101)URL预热超出当日额度限制"), Some(23101));
        assert_eq!(module_code(" (9163) 操作频繁"), Some(9163));
        assert_eq!(module_code("身份认证失败"), None);
        assert_eq!(module_code("(abc)x"), None);
        assert_eq!(module_code("("), None);
    }

    #[test]
    fn classification_table() {
        let cases: &[(i64, &str, &str)] = &[
            (4100, "身份认证失败，用户身份验证失败", "auth"),
            (4104, "", "auth"),
            (4110, "", "auth"),
            (4300, "", "auth"),
            (4000, "(23103)无调用该接口权限", "auth"),
            (4400, "", "quota"),
            (4000, "(23101)URL预热超出当日额度限制", "quota"),
            (4000, "(21000)预拉热次数超过当日限额", "quota"),
            (4000, "(23100)单次提交预热URL超出上限", "large"),
            (4000, "(21002)单次预拉热超出长度限制", "large"),
            (4000, "(9163)操作频繁", "throttled"),
            (4000, "(22063)操作频繁", "throttled"),
            (4000, "(9105)域名不存在", "domain"),
            (4000, "(9110)", "domain"),
            (4000, "(9307)", "domain"),
            (4000, "(9111)", "domain"),
            (4000, "(22041)", "domain"),
            (4000, "(28006)", "domain"),
            (4000, "(28008)", "domain"),
            (
                4000,
                "(1012)传参错误 invalid error code[域名 luan.ma 未部署在 mainland]",
                "domain",
            ),
            (4200, "", "expired"),
            (4500, "", "expired"),
            (6000, "", "transient"),
            (6200, "", "transient"),
            (5100, "", "transient"),
            (4000, "(9003)参数错误", "invalid"),
            (4000, "(9107)域名格式不合法", "domain"),
            (4000, "(22701)域名格式不合法", "domain"),
            (4000, "(100004)projectId不正确", "invalid"),
            (5000, "", "other"),
        ];
        for (code, msg, want) in cases {
            let got = classify(*code, msg, "InvalidParameter");
            let kind = match &got {
                PushError::Auth(_) => "auth",
                PushError::QuotaExceeded(_) => "quota",
                PushError::BatchTooLarge(_) => "large",
                PushError::Throttled(_) => "throttled",
                PushError::DomainRejected(_) => "domain",
                PushError::Expired(_) => "expired",
                PushError::Transient(_) => "transient",
                PushError::InvalidParameter(_) => "invalid",
                PushError::Migrated(_) | PushError::Other(_) => "other",
            };
            assert_eq!(kind, *want, "{code} {msg}: {got}");
            assert!(got.to_string().contains(&code.to_string()), "{got}");
        }
    }

    #[test]
    fn error_replies_parse_through() {
        let r = parse_response(
            200,
            r#"{"code":4100,"message":"身份认证失败，用户身份验证失败","codeDesc":"AuthFailure"}"#,
        );
        match r {
            Err(PushError::Auth(m)) => {
                assert!(m.contains("4100") && m.contains("AuthFailure"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let r = parse_response(
            200,
            r#"{"code":4000,"message":"(23101)quota","codeDesc":"InvalidParameter"}"#,
        );
        assert!(matches!(r, Err(PushError::QuotaExceeded(_))));
        assert!(matches!(
            parse_response(200, r#"{"message":"x"}"#),
            Err(PushError::Transient(_))
        ));
    }

    mod wire {
        use std::path::PathBuf;

        use super::super::*;
        use crate::config::Settings;
        use crate::push::client::{build_client, check_endpoint, test_server};

        fn provider(base: &str, method: Method, sig: SignatureMethod, token: bool) -> V2Provider {
            let mut s = Settings::with_defaults(PathBuf::from("/tmp"));
            s.cdn.method = method;
            s.cdn.signature_method = sig;
            s.push.timeout = std::time::Duration::from_millis(500);
            let creds = Credentials {
                secret_id: "AKIDtest".into(),
                secret_key: Secret::new("wire-secret-key"),
                token: token.then(|| Secret::new("wire-token")),
            };
            let endpoint = check_endpoint(&format!("{base}/v2/index.php")).unwrap();
            V2Provider::new(build_client(&s.push).unwrap(), endpoint, creds, &s.cdn)
        }

        fn verify(method: &str, host: &str, pairs: &[(String, String)], sig: SignatureMethod) {
            let sent = pairs
                .iter()
                .find(|(k, _)| k == "Signature")
                .map(|(_, v)| v.clone())
                .unwrap();
            let unsigned: Vec<(String, String)> = pairs
                .iter()
                .filter(|(k, _)| k != "Signature")
                .cloned()
                .collect();
            let want = sign_v2(
                method,
                host,
                "/v2/index.php",
                &unsigned,
                &Secret::new("wire-secret-key"),
                sig,
            );
            assert_eq!(sent, want);
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(get("Action"), Some("CdnOverseaPushser"));
            assert_eq!(get("SecretId"), Some("AKIDtest"));
            assert!(get("Nonce").unwrap().parse::<u64>().unwrap() > 0);
            let ts: u64 = get("Timestamp").unwrap().parse().unwrap();
            assert!(ts.abs_diff(real_unix_time()) < 60);
            assert_eq!(get("urls.0"), Some("https://www.example.com/a b?x=1&y=é"));
            assert_eq!(get("urls.1"), Some("https://www.example.com/2"));
        }

        fn urls() -> Vec<String> {
            vec![
                "https://www.example.com/a b?x=1&y=é".into(),
                "https://www.example.com/2".into(),
            ]
        }

        #[test]
        fn post_form_is_signed_for_the_loopback_host() {
            let (base, rx) = test_server::start(vec![
                Some((
                    200,
                    r#"{"code":0,"message":"","codeDesc":"Success","data":[{"task_id":7}]}"#.into(),
                )),
                Some((200, r#"{"code":0,"data":{"task_id":"8"}}"#.into())),
            ]);
            let host = base.trim_start_matches("http://").to_string();
            let mut p = provider(&base, Method::Post, SignatureMethod::HmacSha256, true);
            assert_eq!(
                p.submit(&urls()),
                Ok(Submitted {
                    task_id: "7".into()
                })
            );
            let r = rx.recv().unwrap();
            assert_eq!(r.method, "POST");
            assert_eq!(r.target, "/v2/index.php");
            assert_eq!(
                r.header("content-type"),
                Some("application/x-www-form-urlencoded")
            );
            assert_eq!(r.header("host"), Some(host.as_str()));
            assert!(r.header("user-agent").unwrap().starts_with("prewarm/"));
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(&r.body).into_owned().collect();
            verify("POST", &host, &pairs, SignatureMethod::HmacSha256);
            assert!(pairs.contains(&("SignatureMethod".into(), "HmacSHA256".into())));
            assert!(pairs.contains(&("Token".into(), "wire-token".into())));
            // A second call gets a fresh Nonce.
            assert_eq!(p.submit(&urls()).unwrap().task_id, "8");
            let r2 = rx.recv().unwrap();
            let pairs2: Vec<(String, String)> =
                url::form_urlencoded::parse(&r2.body).into_owned().collect();
            let nonce =
                |ps: &[(String, String)]| ps.iter().find(|(k, _)| k == "Nonce").unwrap().1.clone();
            assert_ne!(nonce(&pairs), nonce(&pairs2));
        }

        #[test]
        fn get_query_is_signed_with_get() {
            let (base, rx) = test_server::start(vec![Some((
                200,
                r#"{"code":0,"data":{"task_id":"x"}}"#.into(),
            ))]);
            let host = base.trim_start_matches("http://").to_string();
            let mut p = provider(&base, Method::Get, SignatureMethod::HmacSha1, false);
            assert_eq!(p.submit(&urls()).unwrap().task_id, "x");
            let r = rx.recv().unwrap();
            assert_eq!(r.method, "GET");
            assert!(r.body.is_empty());
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(r.query().as_bytes())
                .into_owned()
                .collect();
            verify("GET", &host, &pairs, SignatureMethod::HmacSha1);
            assert!(pairs.contains(&("SignatureMethod".into(), "HmacSHA1".into())));
            assert!(!pairs.iter().any(|(k, _)| k == "Token"));
            assert!(
                r.query()
                    .contains("urls.0=https%3A%2F%2Fwww.example.com%2F"),
                "{}",
                r.query()
            );
        }

        #[test]
        fn html_reply_is_transient_and_retry_after_is_kept() {
            let (base, _rx) = test_server::start(vec![Some((200, "<html>busy</html>".into()))]);
            let mut p = provider(&base, Method::Post, SignatureMethod::HmacSha1, false);
            assert!(matches!(p.submit(&urls()), Err(PushError::Transient(_))));
            assert_eq!(p.retry_after(), Some(std::time::Duration::from_secs(3)));
        }

        #[test]
        fn a_silent_server_is_an_ambiguous_failure_without_secrets() {
            let (base, _rx) = test_server::start(vec![None]);
            let mut p = provider(&base, Method::Get, SignatureMethod::HmacSha1, true);
            let err = p.submit(&urls()).unwrap_err();
            let text = format!("{err} {err:?} {p:?}");
            assert!(matches!(err, PushError::Transient(_)), "{text}");
            assert!(text.contains("may"), "{text}");
            for secret in ["wire-secret-key", "wire-token", "Signature=", "AKIDtest&"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }
}
