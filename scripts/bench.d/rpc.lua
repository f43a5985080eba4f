-- wrk script: an authenticated POST /api/rpc (`machine-show`), the call a dashboard makes
-- most. The token comes from the environment so it never appears in argv.
wrk.method = "POST"
wrk.body = '{"command":"machine-show","params":{"name":"node1"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("IGOR_BENCH_TOKEN") or "")
