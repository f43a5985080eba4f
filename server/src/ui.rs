//! `/ui/`: the web client (`server/ui/`), embedded at build time so that igord stays one
//! binary. It is static: the page learns everything from `/api/schema` and talks to the
//! API with a bearer token, as igor does.
//!
//! Every file goes out with a strict Content-Security-Policy (scripts, styles and
//! connections from this origin only, nothing inline, no framing), `nosniff`, no referrer,
//! and `no-cache` with an ETag (the file's SHA-256), so an upgraded igord's page is used at
//! once and an unchanged one costs a 304.
//!
//! One page differs: `console.html`, the serial console, runs xterm.js (`/ui/vendor/`,
//! installed from npm by `build.rs`), whose renderer writes its cell metrics and colours as
//! `<style>` elements. Its policy adds inline *styles* only; scripts stay this origin's
//! files, and the rest of the UI keeps the strict policy.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "ui/"]
struct Files;

/// xterm.js and its fit add-on, as `build.rs` copied them from `npm ci`.
#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/ui-vendor/"]
struct Vendor;

/// The UI's Content-Security-Policy, with `$style` as its style sources.
macro_rules! csp {
    ($style:literal) => {
        concat!(
            "default-src 'none'; script-src 'self'; style-src ",
            $style,
            "; connect-src 'self'; img-src 'self'; form-action 'none'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    };
}

pub const CSP: &str = csp!("'self'");

/// The console page's policy: the same, with inline styles for xterm.js's renderer.
pub const CONSOLE_CSP: &str = csp!("'self' 'unsafe-inline'");

/// `GET /ui`: the page's relative links need the trailing slash.
pub async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

/// `GET /ui/` and `GET /ui/{file}`.
pub async fn file(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("file").unwrap_or("");
    let name = if name.is_empty() { "index.html" } else { name };
    let f = Files::get(name)
        .ok_or_else(|| ApiError::NotFound(format!("no file '{name}' in the web UI")))?;
    let csp = if name == "console.html" {
        CONSOLE_CSP
    } else {
        CSP
    };
    serve(&req, f, csp)
}

/// `GET /ui/vendor/{file}`.
pub async fn vendor_file(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("file").unwrap_or("");
    let f = Vendor::get(name)
        .ok_or_else(|| ApiError::NotFound(format!("no file 'vendor/{name}' in the web UI")))?;
    serve(&req, f, CSP)
}

fn serve(
    req: &HttpRequest,
    f: rust_embed::EmbeddedFile,
    csp: &'static str,
) -> Result<HttpResponse, ApiError> {
    let hash = hex::encode(f.metadata.sha256_hash());
    let fresh = crate::http::none_match(req, &hash);
    let mut resp = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, format!("\"{hash}\"")));
    if fresh {
        return Ok(resp.finish());
    }
    Ok(resp
        .content_type(f.metadata.mimetype())
        .body(f.data.into_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_and_its_files_are_embedded() {
        for f in [
            "index.html",
            "app.js",
            "app.css",
            "console.html",
            "console.js",
        ] {
            assert!(super::Files::get(f).is_some(), "{f} is not embedded");
        }
        for f in ["xterm.mjs", "xterm.css", "addon-fit.mjs"] {
            assert!(
                super::Vendor::get(f).is_some(),
                "vendor/{f} is not embedded"
            );
        }
        let page = super::Files::get("index.html").unwrap();
        let text = String::from_utf8_lossy(&page.data);
        // The CSP allows no inline script or style: the page must have none.
        assert!(
            !text.contains("<script>") && !text.contains("style="),
            "{text}"
        );
    }
}
