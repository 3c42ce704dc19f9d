import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilAPI
import VigilCore

/// Sensors with units and limits (SPEC §6/§9, issue 26): `[[sensors]]` rules in the config, an
/// operator's PUT laid over them, shown by the sensors route, `vigil sensors` and `/metrics`; a
/// reading outside the physical range is stored and counted.
@Suite(.serialized) struct SensorMetadataTests {
    @Test func configAndOperatorMetadataAreShownAndImpossibleReadingsCounted() async throws {
        let broker = try TestBroker()
        try await broker.waitReady()
        let daemon = try TestDaemon(broker: broker, config: """
            [[sensors]]
            machine = "press-*"
            sensor = "pressure"
            unit = "bar"
            min = 0
            max = 250
            """)
        try await daemon.waitReady()
        let t0 = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        try broker.publish(topic: "vigil/press-1", "[{\"ts\":\(t0),\"values\":{\"pressure\":10,\"temp\":50}},{\"ts\":\(t0 + 1000),\"values\":{\"pressure\":300,\"temp\":51}}]")
        let url = daemon.baseURL + "/api/v1/machines/press-1/sensors"
        try await Harness.waitUntil("both sensors stored") { try await Harness.getJSON(url, as: [SensorCondition].self).count == 2 }
        var sensors = try await Harness.getJSON(url, as: [SensorCondition].self)
        #expect(sensors.first { $0.sensor == "pressure" }?.metadata == SensorMetadata(unit: "bar", min: 0, max: 250))
        #expect(sensors.first { $0.sensor == "temp" }?.metadata.isEmpty == true)

        func put(_ sensor: String, _ body: String) async throws -> (Int, Data) {
            var r = URLRequest(url: URL(string: daemon.baseURL + "/api/v1/machines/press-1/sensors/\(sensor)")!)
            r.httpMethod = "PUT"
            r.httpBody = Data(body.utf8)
            let (data, response) = try await URLSession.shared.data(for: r)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
        }
        let (status, body) = try await put("temp", #"{"unit": "degC", "description": "housing", "min": -40, "max": 120}"#)
        #expect(status == 200)
        #expect(try JSONDecoder().decode(SensorCondition.self, from: body).metadata == SensorMetadata(unit: "degC", description: "housing", min: -40, max: 120))
        #expect(try await put("temp", #"{"min": 5, "max": 1}"#).0 == 400)
        #expect(try await put("temp", #"{"step": -1}"#).0 == 400)
        #expect(try await put("temp", "not json").0 == 400)
        #expect(try await put("flow", #"{"unit": "l/min"}"#).0 == 404)
        // The operator's max wins over the config's; the config's unit and min still show.
        #expect(try await put("pressure", #"{"max": 400}"#).0 == 200)
        sensors = try await Harness.getJSON(url, as: [SensorCondition].self)
        #expect(sensors.first { $0.sensor == "pressure" }?.metadata == SensorMetadata(unit: "bar", min: 0, max: 400))

        // 300 bar was beyond the configured 250 when it arrived: stored and counted; now within 400.
        try broker.publish(topic: "vigil/press-1", "{\"ts\":\(t0 + 2000),\"values\":{\"pressure\":300,\"temp\":130}}")
        let series = try await Harness.getJSON(daemon.baseURL + "/api/v1/machines/press-1/sensors/pressure/series?resolution=raw", as: [API.SeriesPoint].self)
        #expect(series.contains { $0.mean == 300 })
        try await Harness.waitUntil("the impossible readings counted") {
            let text = String(decoding: try await Harness.get(daemon.baseURL + "/metrics").1, as: UTF8.self)
            return text.contains("vigil_sensor_impossible_readings_total{machine=\"press-1\",sensor=\"pressure\"} 1")
                && text.contains("vigil_sensor_impossible_readings_total{machine=\"press-1\",sensor=\"temp\"} 1")
        }
        let metrics = String(decoding: try await Harness.get(daemon.baseURL + "/metrics").1, as: UTF8.self)
        #expect(metrics.contains("vigil_sensor_info{machine=\"press-1\",sensor=\"pressure\",unit=\"bar\"} 1"))
        #expect(metrics.contains("vigil_sensor_info{machine=\"press-1\",sensor=\"temp\",unit=\"degC\"} 1"))
        let table = try Harness.run(try Harness.product("vigil"), ["sensors", "press-1", "--url", daemon.baseURL])
        #expect(table.status == 0 && table.stdout.contains("bar") && table.stdout.contains("degC") && table.stdout.contains("UNIT"), "\(table.stdout)")
        #expect(await daemon.terminate() == 0)
    }
}
