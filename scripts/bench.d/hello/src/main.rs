//! Hello-world on actix-web: `GET /` answers a short text. Same worker count as igord
//! (actix's default: one worker per physical core).

use actix_web::{App, HttpServer, Responder, get};

#[get("/")]
async fn hello() -> impl Responder {
    "Hello world!"
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let server = HttpServer::new(|| App::new().service(hello)).bind(&addr)?;
    eprintln!("hello: listening on http://{addr}");
    server.run().await
}
