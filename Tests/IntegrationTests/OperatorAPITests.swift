import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilAPI
import VigilCore

/// The API's contract: the OpenAPI document lists exactly the routes served and each answers;
/// bearer tokens guard reads and writes; the dashboard is served by the box.
@Suite(.serialized) struct OperatorAPITests {
    static let routes: Set<String> = [
        "GET /api/v1/machines", "GET /api/v1/machines/{id}/health", "GET /api/v1/machines/{id}/health/history",
        "GET /api/v1/machines/{id}/sensors/{sensor}/series", "GET /api/v1/machines/{id}/models",
        "POST /api/v1/machines/{id}/models/{version}/promote", "POST /api/v1/machines/{id}/models/rollback",
        "POST /api/v1/machines/{id}/maintenance", "GET /api/v1/machines/{id}/quality", "GET /api/v1/machines/{id}/sensors", "PUT /api/v1/machines/{id}/sensors/{sensor}", "GET /api/v1/quarantine", "GET /api/v1/events", "GET /api/v1/upstream", "GET /api/v1/sparkplug/nodes", "GET /api/v1/openapi.json",
        "GET /metrics", "GET /healthz", "GET /", "DELETE /api/v1/machines/{id}",
    ]

    static func request(_ url: String, method: String = "GET", token: String? = nil, body: String? = nil) async throws -> (Int, Data) {
        var r = URLRequest(url: URL(string: url)!)
        r.httpMethod = method
        if let token { r.setValue("Bearer " + token, forHTTPHeaderField: "Authorization") }
        if let body { r.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: r)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    static func page(_ url: String) async throws -> ([API.SeriesPoint], Int64?) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        let next = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "X-Vigil-Next-From").flatMap { Int64($0) }
        return (try JSONDecoder().decode([API.SeriesPoint].self, from: data), next)
    }

    @Test func openAPIDocumentsEveryRouteAndEachAnswers() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        // A plant in Kathmandu (+05:45): its days and the dashboard's times are local there.
        let daemon = try TestDaemon(broker: broker, environment: ["VIGIL_ROLLUP_FLUSH_DELAY_SECONDS": "1", "VIGIL_HEALTH_COMMISSION_MINUTES": "10",
                                                                  "VIGIL_SITE_TIMEZONE": "Asia/Kathmandu"])
        try await daemon.waitReady()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let sim = try Harness.run(try Harness.product("vigil-sim"), [
            "--broker", broker.url, "--machines", "1", "--sensors", "3", "--format", "batch", "--seed", "5",
            "--start", String(now / 60_000 * 60_000 - 3_600_000), "--duration", "40m", "--speedup", "100000", "--quiet",
        ])
        #expect(sim.status == 0)
        try await Harness.waitUntil("pump-01 scored", seconds: 120) {
            try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/health", as: API.Health.self).health != nil
        }
        let (status, body) = try await Self.request(daemon.baseURL + "/api/v1/openapi.json")
        #expect(status == 200)
        let doc = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, ops in ops.keys.map { "\($0.uppercased()) \(path)" } })
        #expect(documented == Self.routes)
        // Removal is exercised last (HealthIntegrationTests), after everything else has answered.
        for route in Self.routes.sorted() where !route.hasPrefix("DELETE") {
            let parts = route.split(separator: " ")
            let path = parts[1].replacingOccurrences(of: "{id}", with: "pump-01").replacingOccurrences(of: "{sensor}", with: "temp")
                .replacingOccurrences(of: "{version}", with: "1")
            let (code, data) = try await Self.request(daemon.baseURL + path, method: String(parts[0]), body: ["POST", "PUT"].contains(parts[0]) ? "{}" : nil)
            // A first model has no parent to roll back to: a documented 409.
            let want = route.hasSuffix("/rollback") ? 409 : 200
            #expect(code == want, "\(route): \(code) \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        // Wrong methods: 405 with Allow; unknown paths: 404; both with the one error body.
        for (method, path, allow) in [("TRACE", "/metrics", "GET, HEAD"), ("DELETE", "/api/v1/machines", "GET, HEAD"),
                                      ("GET", "/api/v1/machines/pump-01/sensors/temp", "PUT")] {
            var r = URLRequest(url: URL(string: daemon.baseURL + path)!)
            r.httpMethod = method
            let (data, response) = try await URLSession.shared.data(for: r)
            let http = try #require(response as? HTTPURLResponse)
            #expect(http.statusCode == 405 && http.value(forHTTPHeaderField: "Allow") == allow, "\(method) \(path)")
            #expect((try? JSONDecoder().decode(API.ErrorBody.self, from: data))?.error == "method_not_allowed")
        }
        let (missing, missingBody) = try await Self.request(daemon.baseURL + "/api/v1/nothing")
        #expect(missing == 404 && (try? JSONDecoder().decode(API.ErrorBody.self, from: missingBody)) != nil)
        // An empty range is an empty answer, not an error.
        #expect(try await Self.request(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series?from=10&to=5").1 == Data("[]".utf8))
        // Large answers: range × resolution is bounded, and a page cut by `limit` says where the
        // next one starts.
        let seriesURL = daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series"
        let (tooWide, tooWideBody) = try await Self.request(seriesURL + "?resolution=minute&from=0&to=\(now)")
        #expect(tooWide == 400 && String(decoding: tooWideBody, as: UTF8.self).contains("use resolution=day"))
        #expect(try await Self.request(seriesURL + "?resolution=day&from=0&to=\(now)").0 == 200)
        for resolution in ["raw", "minute"] {
            let (first, firstNext) = try await Self.page(seriesURL + "?resolution=\(resolution)&limit=5")
            let next = try #require(firstNext, "\(resolution): a cut page names the next from")
            #expect(first.count == 5 && next > first.last!.ts)
            let (second, _) = try await Self.page(seriesURL + "?resolution=\(resolution)&limit=5&from=\(next)")
            let (both, _) = try await Self.page(seriesURL + "?resolution=\(resolution)&limit=10")
            #expect((first + second).map(\.ts) == both.map(\.ts), "\(resolution): pages continue where the last one stopped")
        }
        let (all, allNext) = try await Self.page(seriesURL + "?resolution=minute")
        #expect(!all.isEmpty && allNext == nil, "a complete answer has no next page")
        // Large JSON answers are gzip-compressed for a client that accepts it, and only then.
        let gzipCheck = """
            import gzip, http.client, sys
            def get(enc):
                c = http.client.HTTPConnection("127.0.0.1", \(daemon.httpPort))
                c.request("GET", "/api/v1/machines/pump-01/sensors/temp/series?resolution=minute", headers={"Accept-Encoding": enc} if enc else {})
                r = c.getresponse()
                return r.getheader("Content-Encoding"), r.read()
            plain_enc, plain = get(None)
            zipped_enc, zipped = get("br;q=1.0, gzip;q=0.8")
            assert plain_enc is None and zipped_enc == "gzip", (plain_enc, zipped_enc)
            assert gzip.decompress(zipped) == plain, "same JSON"
            print(len(plain), len(zipped))
            """
        let gz = try Harness.run(try Harness.tool("python3"), ["-c", gzipCheck])
        let sizes = gz.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(gz.status == 0 && sizes.count == 2 && sizes[1] * 3 < sizes[0], "gzip: \(gz.stdout) \(gz.stderr)")

        let (_, page) = try await Self.request(daemon.baseURL + "/")
        let html = String(decoding: page, as: UTF8.self)
        #expect(html.contains("<title>Vigil</title>") && !html.contains("http://") && !html.contains("https://"), "the dashboard must not load anything from elsewhere")

        // The instrument's unit and range (an operator's PUT) head its chart.
        let (put, _) = try await Self.request(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp", method: "PUT",
                                              body: "{\"unit\": \"°C\", \"description\": \"<b>casing</b>\", \"min\": 0, \"max\": 150}")
        #expect(put == 200)
        // A real headless browser runs the page's script against the daemon: the fleet table
        // fills, the machine view draws the health chart and a sensor chart.
        let browser = try Harness.tool("chromium")
        let dom = try Harness.run(browser, ["--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + daemon.dir + "/chromium",
                                            "--virtual-time-budget=20000", "--dump-dom", daemon.baseURL + "/"])
        #expect(dom.status == 0, "\(dom.stderr)")
        #expect(dom.stdout.contains("<tr class=\"m sel\" data-id=\"pump-01\"><td>pump-01</td>"), "fleet table: \(dom.stdout.prefix(3000))")
        #expect(dom.stdout.contains("1 machines · 0 in alarm") || dom.stdout.contains("1 machines · 1 in alarm"))
        #expect(dom.stdout.contains("temp <span class=\"muted\">(°C, can read 0 to 150)</span>") && dom.stdout.contains("title=\"&lt;b&gt;casing&lt;/b&gt;\""),
                "unit and range on the sensor's chart, escaped: \(dom.stdout.components(separatedBy: "data-s=").first?.suffix(800) ?? "")")
        #expect(dom.stdout.contains("GMT+5:45 (Asia/Kathmandu)"), "times in the plant's zone with its offset: \(dom.stdout.prefix(1500))")
        // Day points are the plant's local days: a date, 24 hours, starting at 18:15 UTC.
        let days = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series?resolution=day", as: [API.SeriesPoint].self)
        #expect(!days.isEmpty && days.allSatisfy { $0.lengthMs == 86_400_000 && $0.date != nil && ($0.ts + 20_700_000) % 86_400_000 == 0 }, "\(days)")
        let today = try #require(days.last?.date)
        let oneDay = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/pump-01/sensors/temp/series?resolution=minute&from=\(today)&to=\(today)&limit=100000",
                                               as: [API.SeriesPoint].self)
        #expect(!oneDay.isEmpty && oneDay.allSatisfy { $0.ts >= days.last!.ts && $0.ts < days.last!.ts + 86_400_000 }, "from=D&to=D is the local day D")
        let cli = try Harness.run(try Harness.product("vigil"), ["series", "pump-01", "temp", "--resolution", "day", "--from", today, "--to", today,
                                                                 "--url", daemon.baseURL])
        #expect(cli.status == 0 && cli.stdout.contains("T18:15:00+05:45") == false && cli.stdout.contains("T00:00:00+05:45") && cli.stdout.contains(today) && cli.stdout.contains("°C"),
                "vigil series shows the local day with its offset: \(cli.stdout) \(cli.stderr)")
        for command in [["machines"], ["events", "--limit", "3"], ["health", "pump-01"]] {
            let table = try Harness.run(try Harness.product("vigil"), command + ["--url", daemon.baseURL])
            #expect(table.status == 0 && table.stdout.contains("+05:45"), "vigil \(command[0]) shows the plant's time: \(table.stdout)")
        }
        let healthChart = dom.stdout.range(of: "<svg id=\"health\"").flatMap { r in
            dom.stdout[r.lowerBound...].range(of: "</svg>").map { String(dom.stdout[r.lowerBound..<$0.upperBound]) } } ?? ""
        #expect(healthChart.contains("<polyline"), "health chart: \(healthChart.prefix(400))")
        // Band edges, a local-time axis with labels, and the first model version marked.
        #expect(healthChart.components(separatedBy: "stroke-dasharray").count - 1 == 3, "three band edges")
        #expect(healthChart.components(separatedBy: "class=\"ax\"").count - 1 >= 2, "time axis labels: \(healthChart.prefix(600))")
        #expect(healthChart.contains("class=\"mark\"") && healthChart.contains(">v1</text>"), "model version marked")
        #expect(dom.stdout.contains("Record maintenance") && dom.stdout.contains("Roll back model"), "admin actions on the page")
        #expect(dom.stdout.contains("data-s=\"temp\"") && dom.stdout.contains("<polygon"), "sensor chart with its min-max band")
        #expect(await daemon.terminate() == 0)
    }

    @Test func tokensGuardReadsAndWrites() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let reader = "reader-token-0123456789", admin = "admin-token-0123456789abc"
        let daemon = try TestDaemon(broker: broker, environment: [
            "VIGIL_HTTP_READER_TOKENS": "[\"\(reader)\"]", "VIGIL_HTTP_ADMIN_TOKENS": "[\"\(admin)\"]",
        ])
        try await daemon.waitReady()
        try broker.publish(topic: "vigil/press7/temp", "{\"ts\":\(Int64(Date().timeIntervalSince1970 * 1000)),\"value\":21.5}")
        let base = daemon.baseURL
        #expect(try await Self.request(base + "/api/v1/machines").0 == 401)
        #expect(try await Self.request(base + "/api/v1/machines", token: "wrong-token-0123456789").0 == 401)
        #expect(try await Self.request(base + "/metrics").0 == 401)
        #expect(try await Self.request(base + "/api/v1/machines", token: reader).0 == 200)
        #expect(try await Self.request(base + "/metrics", token: reader).0 == 200)
        #expect(try await Self.request(base + "/api/v1/machines", token: admin).0 == 200)
        try await Harness.waitUntil("press7 stored") {
            try await Self.request(base + "/api/v1/machines/press7/health", token: reader).0 == 200
        }
        let write = base + "/api/v1/machines/press7/maintenance"
        let (forbidden, body) = try await Self.request(write, method: "POST", token: reader)
        #expect(forbidden == 403 && String(decoding: body, as: UTF8.self).contains("admin"))
        #expect(try await Self.request(write, method: "POST", token: admin, body: "{\"note\":\"filter\"}").0 == 200)
        #expect(try await Self.request(base + "/api/v1/machines/press7", method: "DELETE", token: reader).0 == 403)
        // Open: the daemon's own liveness, the API description and the dashboard page.
        #expect(try await Self.request(base + "/healthz").0 == 200)
        #expect(try await Self.request(base + "/api/v1/openapi.json").0 == 200)
        #expect(try await Self.request(base + "/").0 == 200)
        // The CLI sends its token; without one it says why it failed.
        let vigil = try Harness.product("vigil")
        let ok = try Harness.run(vigil, ["machines", "--url", base, "--token", reader])
        #expect(ok.status == 0 && ok.stdout.contains("press7"))
        let denied = try Harness.run(vigil, ["machines", "--url", base])
        #expect(denied.status == 1 && denied.stderr.contains("401"), "\(denied.stderr)")
        let short = try Harness.run(try Harness.product("vigild"), ["--check-config"], environment: ["VIGIL_HTTP_ADMIN_TOKENS": "[\"short\"]"])
        #expect(short.status == 2 && short.stderr.contains("http.admin_tokens"), "\(short.stderr)")
        #expect(await daemon.terminate() == 0)
    }
}
