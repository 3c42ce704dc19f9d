public import Hummingbird
import Foundation
import Synchronization
public import VigilAPI
public import VigilCore
import VigilRollup
import VigilStore
import VigilCodec
import VigilMQTT

/// JSON error body of SPEC §6: `{"error": "...", "detail": "..."}`.
struct APIError: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var error: String
    var detail: String
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder().encode(API.ErrorBody(error: error, detail: detail))
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func badRequest(_ detail: String) -> APIError { .init(status: .badRequest, error: "bad_request", detail: detail) }
    static func notFound(_ detail: String) -> APIError { .init(status: .notFound, error: "not_found", detail: detail) }
}

extension API.QuarantineItem: ResponseEncodable {}
extension API.DaemonStatus: ResponseEncodable {}
extension Event: ResponseEncodable {}
extension SensorCondition: ResponseEncodable {}
extension API.UpstreamLane: ResponseEncodable {}
extension API.SparkplugNode: ResponseEncodable {}

/// The daemon's HTTP routes.
struct APIRoutes: Sendable {
    let reader: StoreReader
    let metrics: IngestMetrics
    let buffer: IngestBuffer
    let mqtt: MQTTSessions
    let rollups: RollupService
    /// The fleet overview, kept in memory by the writer.
    let fleet: FleetIndex
    /// The daemon's own condition, for /healthz and /metrics.
    let condition: DaemonCondition
    /// Notification delivery, for /metrics.
    let notify: NotifyService?
    /// Upstream delivery, for /metrics and /api/v1/upstream (nil: no sink configured).
    let upstream: UpstreamService?
    /// The Sparkplug B host, for /metrics and /api/v1/sparkplug/nodes (nil: not enabled).
    let sparkplug: SparkplugService?
    /// For /metrics: sensors' metadata (`[[sensors]]` under what is stored) and the writer's count of
    /// readings outside their sensor's physical range.
    let sensorRules: [SensorRule]
    let writer: StoreWriter
    let seriesCache = SeriesCache()
    let fleetBody = FleetBody()

    static let maxRawRows = 100_000

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in try await healthz() }
        router.get("/api/v1/machines") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                     body: .init(byteBuffer: fleetBody.current(fleet)))
        }
        router.get("/api/v1/machines/:id/sensors/:sensor/series") { req, ctx in
            let page = try await series(req, ctx)
            var response = Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                                    body: .init(byteBuffer: page.json))
            response.setNextFrom(page.nextFrom)
            return response
        }
        router.get("/api/v1/machines/:id/quality") { req, ctx in
            let id = try pathID(ctx, "id", valid: KeyRules.isValidMachine)
            let from = try queryTime(req.uri.queryParameters.get("from"), name: "from") ?? .min
            let to = try queryTime(req.uri.queryParameters.get("to"), name: "to") ?? .max
            guard let q = try await reader.quality(machine: id, from: from, to: to) else { throw APIError.notFound("no machine \(id)") }
            return API.Quality(q)
        }
        router.get("/api/v1/quarantine") { req, _ in try await quarantine(req) }
        router.get("/api/v1/events") { req, ctx in
            let q = req.uri.queryParameters
            let limit = try queryLimit(q.get("limit"), default: 100, max: 10_000)
            let before = try q.get("before").map { raw -> Int64 in
                guard let id = Int64(raw), id > 0 else { throw APIError.badRequest("'before' must be an event id") }
                return id
            }
            let machine = try q.get("machine").map { m -> String in
                guard KeyRules.isValidMachine(m) else { throw APIError.badRequest("'machine' is not a valid machine id") }
                return m
            }
            let kind = try q.get("kind").map { k -> EventKind in
                guard let kind = EventKind(rawValue: k) else {
                    throw APIError.badRequest("'kind' must be one of \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return kind
            }
            let events = try await reader.events(before: before, machine: machine, kind: kind, limit: limit)
            var response = try events.response(from: req, context: ctx)
            // Newest first: the next page is the events before the last one shown.
            if events.count == limit, let last = events.last { response.headers[.init("X-Vigil-Next-Before")!] = String(last.id) }
            return response
        }
        router.get("/api/v1/sparkplug/nodes") { req, ctx in try (sparkplug?.nodes() ?? []).response(from: req, context: ctx) }
        router.get("/api/v1/upstream") { req, ctx in try (upstream?.status ?? []).response(from: req, context: ctx) }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Dashboard.page(timeZone: writer.calendar.timeZone))))
        }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.served)))
        }
        router.get("/metrics") { _, _ in try await prometheus() }
    }

    func healthz() async throws -> API.DaemonStatus {
        _ = try await reader.rejectCounts()  // proves the database answers
        let last = metrics.lastMessageAt.load(ordering: .relaxed)
        let (facts, reasons) = condition.status()
        return API.DaemonStatus(status: reasons.isEmpty ? "ok" : "degraded",
                                reasons: reasons.map { API.DaemonStatus.Reason(reason: $0.reason.rawValue, detail: $0.detail) },
                                mqttConnected: facts.mqttConnected,
                                messages: metrics.messages.load(ordering: .relaxed),
                                readingsAccepted: metrics.readingsAccepted.load(ordering: .relaxed),
                                readingsStored: buffer.stats.appliedReadings,
                                lastMessageAt: last == 0 ? nil : last, storageFreeBytes: facts.freeBytes, databaseBytes: facts.databaseBytes,
                                timezone: writer.calendar.timeZone)
    }

    /// Whether the sensor has a reading, committed or still waiting for its commit.
    func knows(machine: String, sensor: String) async throws -> Bool {
        if buffer.unappliedLatest(machine: machine)[sensor] != nil { return true }
        return try await reader.sensorConditions(machine: machine)?.contains(where: { $0.sensor == sensor }) == true
    }

    /// One page of a series; `nextFrom` is set when `limit` cut it short.
    func series(_ req: Request, _ ctx: BasicRequestContext) async throws -> (json: ByteBuffer, nextFrom: Int64?) {
        let machine = try pathID(ctx, "id", valid: KeyRules.isValidMachine)
        let sensor = try pathID(ctx, "sensor", valid: KeyRules.isValidSensor)
        let q = req.uri.queryParameters
        let resolution = q.get("resolution") ?? "raw"
        let from = try queryTime(q.get("from"), name: "from") ?? 0
        let to = try queryTime(q.get("to"), name: "to") ?? Int64.max
        let limit = try queryLimit(q.get("limit"), default: 10_000, max: Self.maxRawRows)
        guard ["raw", "minute", "day"].contains(resolution) else { throw APIError.badRequest("resolution must be raw, minute or day") }
        let columns = try q.get("format").map { format -> Bool in
            guard format == "objects" || format == "columns" else { throw APIError.badRequest("format must be objects or columns") }
            guard format == "objects" || resolution == "raw" else { throw APIError.badRequest("format=columns is for resolution=raw") }
            return format == "columns"
        } ?? false
        guard from < to else {  // an empty range: nothing, once the series is known
            guard try await knows(machine: machine, sensor: sensor) else {
                throw APIError.notFound("no series \(machine)/\(sensor)")
            }
            return (ByteBuffer(string: columns ? #"{"ts":[],"value":[]}"# : "[]"), nil)
        }
        switch resolution {
        case "raw":
            // Readings journaled but not yet committed (`ingest.apply_interval`) are read too, first.
            let unapplied = buffer.unapplied(machine: machine, sensor: sensor, from: from, to: to)
            guard var rows = try await reader.rawColumns(machine: machine, sensor: sensor, from: from, to: to, limit: limit, withSeq: false)
                    ?? (unapplied.isEmpty ? nil : SeriesColumns()) else {
                throw APIError.notFound("no series \(machine)/\(sensor)")
            }
            if !unapplied.isEmpty {
                var merged = SeriesColumns()
                for r in Reading.merged(zip(rows.ts, rows.values).map { Reading(machine: machine, sensor: sensor, ts: $0, value: $1) }, unapplied, limit: limit) {
                    merged.append(ts: r.ts, value: r.value, seq: nil)
                }
                rows = merged
            }
            let json = columns ? API.SeriesColumns.json(ts: rows.ts, values: rows.values) : API.SeriesPoint.rawJSONArray(ts: rows.ts, values: rows.values)
            return (ByteBuffer(bytes: json), Self.nextFrom(count: rows.count, limit: limit, last: rows.ts.last, step: 1))
        case "minute", "day":
            let width: BucketWidth = resolution == "minute" ? .minute : .day
            let calendar = writer.calendar
            // A range starting inside a bucket includes that bucket (days: the plant's local days).
            let start = width == .minute ? width.start(of: from) : calendar.dayStart(of: from)
            // Range × resolution: an explicit range may span at most `maxRawRows` buckets.
            if to != .max {
                let buckets = ((Double(to) - Double(start)) / Double(width.rawValue)).rounded(.up)
                guard buckets <= Double(Self.maxRawRows) else {
                    throw APIError.badRequest("the range spans \(buckets.formatted(.number.grouping(.never))) \(resolution) buckets; at most \(Self.maxRawRows) per request: "
                                              + (width == .minute ? "narrow from/to or use resolution=day" : "narrow from/to"))
                }
            }
            if width == .minute {
                guard let extent = try await reader.minuteSeriesExtent(machine: machine, sensor: sensor) else {
                    return try await noBuckets(machine: machine, sensor: sensor)
                }
                let page = try await seriesCache.minuteSeries(reader, extent, from: start, to: to, limit: limit)
                return (page.json, Self.nextFrom(count: page.count, limit: limit, last: page.last, step: width.rawValue))
            }
            guard let buckets = try await reader.rollupSeries(machine: machine, sensor: sensor, width: width,
                                                              from: start, to: to, limit: limit) else {
                return try await noBuckets(machine: machine, sensor: sensor)
            }
            // A day point names its local date and length (23, 24 or 25 hours across DST changes).
            let points = buckets.map {
                var p = API.SeriesPoint(ts: $0.start, count: $0.stats.count, mean: $0.stats.mean, min: $0.stats.min, max: $0.stats.max,
                                        sum: $0.stats.sum, stddev: $0.stats.stddev)
                p.date = calendar.date(of: $0.start).description
                p.lengthMs = calendar.dayAfter($0.start) - $0.start
                return p
            }
            return (ByteBuffer(bytes: API.SeriesPoint.jsonArray(points)),
                    Self.nextFrom(count: points.count, limit: limit, last: points.last.map { calendar.dayAfter($0.ts) }, step: 0))
        default:
            throw APIError.badRequest("resolution must be raw, minute or day")
        }
    }

    /// A series SQLite does not know yet: none of its buckets, while its first readings wait for
    /// their commit (and are rolled up after it); else unknown.
    private func noBuckets(machine: String, sensor: String) async throws -> (json: ByteBuffer, nextFrom: Int64?) {
        guard try await knows(machine: machine, sensor: sensor) else { throw APIError.notFound("no series \(machine)/\(sensor)") }
        return (ByteBuffer(string: "[]"), nil)
    }

    func quarantine(_ req: Request) async throws -> [API.QuarantineItem] {
        let limit = try queryLimit(req.uri.queryParameters.get("limit"), default: 100, max: 10_000)
        return try await reader.quarantine(limit: limit).map { e in
            let text = String(validating: e.payload, as: UTF8.self)
            return API.QuarantineItem(id: e.id, receivedAt: e.receivedAt, topic: e.topic, payload: text,
                                 payloadBase64: text == nil ? Data(e.payload).base64EncodedString() : nil,
                                 reason: e.reason, detail: e.detail)
        }
    }

    func prometheus() async throws -> Response {
        var out = ""
        func family(_ name: String, _ help: String, _ type: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name)\(labels) \(v)\n" }
        }
        let store = buffer.stats
        let messages = metrics.messages.load(ordering: .relaxed)
        let accepted = metrics.readingsAccepted.load(ordering: .relaxed)
        let errors = metrics.journalErrors.load(ordering: .relaxed) + store.applyErrors
        family("vigil_ingest_messages_total", "MQTT messages received.", "counter", [("", String(messages))])
        family("vigil_ingest_readings_accepted_total", "Readings made durable in the ingest journal (acknowledged).", "counter",
               [("", String(accepted))])
        family("vigil_ingest_readings_total", "Readings committed to SQLite.", "counter", [("", String(store.appliedReadings))])
        family("vigil_ingest_backlog_readings", "Readings journaled but not yet in SQLite (bounded; ingestion waits when full).",
               "gauge", [("", String(store.pendingReadings))])
        family("vigil_ingest_journal_bytes", "Bytes in the ingest journal.", "gauge", [("", String(store.journalBytes))])
        family("vigil_store_commits_total", "SQLite transactions that applied ingest batches.", "counter", [("", String(store.appliedBatches))])
        family("vigil_store_commit_seconds_total", "Time spent in those transactions.", "counter", [("", String(store.applySeconds))])
        let persisted = try await reader.rejectCounts()
        let rejectSamples: [(String, String)] = persisted.sorted { $0.key < $1.key }.map { ("{reason=\"\($0.key)\"}", String($0.value)) }
        family("vigil_ingest_rejected_total", "Rejected readings or messages by reason (since the database was created).", "counter",
               rejectSamples)
        family("vigil_ingest_journal_syncs_total", "fdatasync calls on the ingest journal (ingest.durability = power: one per message).",
               "counter", [("", String(store.journalSyncs))])
        family("vigil_storage_errors_total", "Failed journal writes and SQLite commits (each retried).", "counter", [("", String(errors))])
        let sessions = mqtt.connected
        family("vigil_mqtt_connected", "1 while every MQTT session is connected to the broker.", "gauge", [("", sessions == mqtt.count ? "1" : "0")])
        family("vigil_mqtt_sessions_connected", "MQTT sessions connected (of ingest.sessions).", "gauge", [("", String(sessions))])
        let (facts, reasons) = condition.status()
        family("vigil_daemon_degraded", "1 for each reason the daemon is degraded now (see /healthz).", "gauge",
               DegradedReason.allCases.map { r in ("{reason=\"\(r.rawValue)\"}", reasons.contains { $0.reason == r } ? "1" : "0") })
        family("vigil_storage_free_bytes", "Free bytes on the file system holding the database.", "gauge",
               facts.freeBytes.map { [("", String($0))] } ?? [])
        family("vigil_storage_database_bytes", "Bytes of the database, its WAL and the ingest journal.", "gauge", [("", String(facts.databaseBytes))])
        let sinks = notify?.stats ?? []
        family("vigil_notify_delivered_total", "Events delivered (2xx) to a notification sink.", "counter",
               sinks.map { ("{sink=\"\($0.name)\"}", String($0.delivered)) })
        family("vigil_notify_failures_total", "Failed delivery attempts to a notification sink (each retried with backoff).", "counter",
               sinks.map { ("{sink=\"\($0.name)\"}", String($0.failed)) })
        family("vigil_notify_pending_events", "Events a notification sink has not acknowledged yet.", "gauge",
               sinks.map { ("{sink=\"\($0.name)\"}", String($0.pending)) })
        let lanes = upstream?.status ?? []
        let label: (API.UpstreamLane) -> String = { "{sink=\"\($0.sink)\",stream=\"\($0.stream.rawValue)\"}" }
        family("vigil_upstream_rows_sent_total", "Rows an upstream sink acknowledged (2xx), per stream.", "counter",
               lanes.map { (label($0), String($0.sentRows)) })
        family("vigil_upstream_errors_total", "Failed inserts into an upstream sink (each retried with backoff).", "counter",
               lanes.map { (label($0), String($0.failures)) })
        family("vigil_upstream_pending_rows", "Changes an upstream sink has not acknowledged yet (recounted every 10 s).", "gauge",
               lanes.map { (label($0), String($0.pendingRows)) })
        let now = SystemClock.wallMillis()
        family("vigil_upstream_oldest_pending_seconds", "Age of the oldest change an upstream sink has not acknowledged (0: none).", "gauge",
               lanes.map { (label($0), String(Double(max(0, now - ($0.oldestPendingAt ?? now))) / 1000)) })
        family("vigil_mqtt_reconnects_total", "Connection losses to the broker (all sessions).", "counter", [("", String(mqtt.reconnects))])
        let r = rollups.stats
        family("vigil_ingest_late_readings_total", "Readings that arrived after their minute's rollup could have closed (still stored and rolled up).",
               "counter", [("", String(store.lateReadings))])
        family("vigil_rollup_buckets_reduced_total", "Minute and day buckets recomputed.", "counter",
               [("{width=\"minute\"}", String(r.minutesReduced)), ("{width=\"day\"}", String(r.daysReduced))])
        family("vigil_rollup_pending_minutes", "Minutes changed but not yet re-reduced (includes the open minute).", "gauge",
               [("", String(r.pendingMinutes))])
        family("vigil_rollup_lag_seconds", "How long the longest-waiting change has waited since its minute could be rolled up (the minute's end, or the change if later): about the flush delay when keeping up.",
               "gauge", [("", String(Double(r.lagMillis) / 1000))])
        family("vigil_rollup_errors_total", "Failed rollup passes and retention runs (each retried).", "counter", [("", String(r.errors))])
        family("vigil_retention_pruned_rows_total", "Rows removed by retention (their statistics stay in the rollups).", "counter",
               [("{tier=\"raw\"}", String(r.rawRowsPruned)), ("{tier=\"minute\"}", String(r.minuteRowsPruned))])
        let quality = try await reader.qualityByMachine()
        for (name, help, value) in [("vigil_readings_missing", "Readings a device numbered (seq) that never arrived: gaps in its sequence not filled since.", \LossCounts.missing),
                                    ("vigil_readings_duplicate_total", "Readings whose sequence number had arrived already (redeliveries, replays); stored once.", \.duplicates),
                                    ("vigil_readings_late_total", "Readings that arrived after a higher sequence number and filled a gap.", \.late),
                                    ("vigil_device_sequence_restarts_total", "Times a device's sequence numbers began again (not counted as loss).", \.restarts)] {
            family(name, help, name.hasSuffix("_total") ? "counter" : "gauge",
                   quality.map { ("{machine=\"\(Self.labelValue($0.machine))\"}", String($0.counts[keyPath: value])) })
        }
        let sealed = rollups.sealed
        family("vigil_store_sealed_chunks", "Compressed chunks of sealed raw history (one per series and 6-hour span).", "gauge",
               [("", String(sealed.chunks))])
        family("vigil_store_sealed_readings", "Raw readings in sealed chunks (the rest are rows of the recent table).", "gauge",
               [("", String(sealed.readings))])
        family("vigil_store_sealed_bytes", "Encoded size of the sealed chunks.", "gauge", [("", String(sealed.bytes))])
        family("vigil_store_sealed_bytes_per_reading", "Encoded bytes per sealed reading (timestamp, value and seq).", "gauge",
               [("", sealed.readings > 0 ? String(Double(sealed.bytes) / Double(sealed.readings)) : "0")])
        family("vigil_store_seals_total", "Chunks written by sealing; merge: an existing chunk rewritten with late readings folded in.", "counter",
               [("{kind=\"new\"}", String(r.chunksSealed - r.sealMerges)), ("{kind=\"merge\"}", String(r.sealMerges))])
        family("vigil_store_sealed_rows_total", "Rows moved from the recent table into chunks.", "counter", [("", String(r.rowsSealed))])
        family("vigil_store_file_bytes", "The database file's pages (as last looked at, every 10 minutes): live, and free (reused by new rows).", "gauge",
               [("{state=\"live\"}", String(r.fileBytes - r.freeBytes)), ("{state=\"free\"}", String(r.freeBytes))])
        family("vigil_store_released_bytes_total", "Free pages given back to the file system by the daemon (VACUUM when most of the file was free).", "counter",
               [("", String(r.releasedBytes))])
        family("vigil_series_cache_chunks_total", "Hour chunks of minute series served from the rendered-JSON cache (hit) or rendered (miss).",
               "counter", [("{result=\"hit\"}", String(seriesCache.hits.load(ordering: .relaxed))),
                           ("{result=\"miss\"}", String(seriesCache.misses.load(ordering: .relaxed)))])
        family("vigil_series_cache_bytes", "Memory held by the series cache (bounded, least recently used evicted).", "gauge",
               [("", String(seriesCache.bytes))])
        for (name, help, type, samples) in sparkplug?.metricFamilies() ?? [] { family(name, help, type, samples) }
        var info: [(String, String)] = []
        for s in try await reader.allSensors() {
            let m = SensorMetadata.resolve(machine: s.machine, sensor: s.sensor, rules: sensorRules, stored: s.stored)
            guard !m.isEmpty else { continue }
            info.append(("{machine=\"\(Self.labelValue(s.machine))\",sensor=\"\(Self.labelValue(s.sensor))\",unit=\"\(Self.labelValue(m.unit ?? ""))\"}", "1"))
        }
        family("vigil_sensor_info", "A sensor with metadata ([[sensors]], a device's birth, PUT …/sensors/{sensor}), labelled with its unit.", "gauge", info)
        family("vigil_sensor_impossible_readings_total", "Readings outside their sensor's physical range (min/max), stored and counted, since the daemon started.",
               "counter", writer.impossibleReadings().map { ("{machine=\"\(Self.labelValue($0.machine))\",sensor=\"\(Self.labelValue($0.sensor))\"}", String($0.count)) })
        let memory = ProcessMemory.now()
        family("vigil_process_heap_bytes", "Bytes of the C heap (glibc malloc): in use, and freed but kept by the allocator.", "gauge",
               [("{state=\"in_use\"}", String(memory.heapInUse)), ("{state=\"free\"}", String(memory.heapFree))])
        family("vigil_sqlite_memory_bytes", "Bytes SQLite holds (page caches of every connection, statements, schema).", "gauge",
               [("", String(SQLiteConnection.memoryUsed))])
        let machines = fleet.snapshot()
        family("vigil_machine_last_reading_timestamp_seconds", "Timestamp of the machine's newest reading (a silent machine: time() minus this grows).",
               "gauge", machines.map { ("{machine=\"\(Self.labelValue($0.id))\"}", String(Double($0.lastSeen) / 1000)) })
        let scored = machines.filter { $0.health != nil && $0.status != nil }
        family("vigil_machine_health", "Machine health, 0-100 (100 = as healthy as its reference).", "gauge",
               scored.map { ("{machine=\"\(Self.labelValue($0.id))\"}", String($0.health!)) })
        family("vigil_machine_status", "1 for the machine's current status.", "gauge",
               scored.map { ("{machine=\"\(Self.labelValue($0.id))\",status=\"\($0.status!.rawValue)\"}", "1") })
        let faults = try await reader.openSensorFaults()
        family("vigil_sensor_fault", "1 while a sensor's fault is open, by kind (see GET /api/v1/machines/{id}/sensors).", "gauge",
               faults.map { ("{machine=\"\(Self.labelValue($0.machine))\",sensor=\"\(Self.labelValue($0.sensor))\",kind=\"\($0.kind.rawValue)\"}", "1") })
        let opened = try await reader.sensorFaultCounts()
        family("vigil_sensor_faults_total", "Sensor faults opened, by kind (counted from the event log, so pruned events no longer count).", "counter",
               SensorFaultKind.allCases.map { ("{kind=\"\($0.rawValue)\"}", String(opened[$0] ?? 0)) })
        let models = try await reader.modelSummary()
        family("vigil_machine_model_version", "The machine's active health model version (see GET /api/v1/machines/{id}/models).", "gauge",
               models.active.map { ("{machine=\"\(Self.labelValue($0.machine))\"}", String($0.version)) })
        family("vigil_models_registered_total", "Model versions registered, by trigger and evaluation-gate decision.", "counter",
               models.registered.map { ("{trigger=\"\($0.trigger)\",decision=\"\($0.decision)\"}", String($0.count)) })
        let last = metrics.lastMessageAt.load(ordering: .relaxed)
        if last > 0 {
            family("vigil_ingest_last_message_age_seconds", "Seconds since the last MQTT message.", "gauge",
                  [("", String(Double(SystemClock.wallMillis() - last) / 1000))])
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: out)))
    }

    /// A Prometheus label value: backslash, quote and newline escaped.
    static func labelValue(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    // MARK: input validation

    func pathID(_ ctx: BasicRequestContext, _ name: String, valid: (String) -> Bool) throws -> String {
        guard let raw = ctx.parameters.get(name), let id = raw.removingPercentEncoding, valid(id) else {
            throw APIError.badRequest("invalid \(name) (ids are 1-128 chars of [A-Za-z0-9_.:-], machine ids may contain '/', percent-encoded)")
        }
        return id
    }

    /// A query time: epoch ms, RFC 3339, or a plant's local date (`2026-03-29`): as `from` the
    /// day's start, as `to` its end (the next day's start), so `from=D&to=D` is that whole day.
    func queryTime(_ s: String?, name: String) throws -> Int64? {
        guard let s else { return nil }
        guard let t = writer.calendar.time(query: s, end: name == "to") else {
            throw APIError.badRequest("'\(name)' must be epoch milliseconds, RFC 3339 or a date (YYYY-MM-DD, the plant's local day)")
        }
        return t
    }

    /// Where the next page starts when `limit` cut an answer short (the last point's time plus
    /// one step: 1 ms for readings, the bucket width for rollups); nil for a complete answer.
    static func nextFrom(count: Int, limit: Int, last: Int64?, step: Int64) -> Int64? {
        count == limit ? last.map { $0 + step } : nil
    }

    func queryLimit(_ s: String?, default d: Int, max: Int) throws -> Int {
        guard let s else { return d }
        guard let n = Int(s), n > 0, n <= max else { throw APIError.badRequest("'limit' must be 1...\(max)") }
        return n
    }
}

/// The fleet overview as a response buffer, shared by every request until the overview changes
/// (ByteBuffer copies share storage, so an answer costs no copy of its ≈ 150 bytes per machine).
final class FleetBody: Sendable {
    private let cached = Mutex<(generation: Int, body: ByteBuffer)?>(nil)

    func current(_ fleet: FleetIndex) -> ByteBuffer {
        if let c = cached.withLock({ $0 }), c.generation == fleet.generation { return c.body }
        let (list, generation) = fleet.snapshotWithGeneration()
        let body = ByteBuffer(bytes: API.Machine.jsonArray(list.map(API.Machine.init)))
        cached.withLock { if ($0?.generation ?? -1) < generation { $0 = (generation, body) } }
        return body
    }
}

extension Response {
    /// Marks a page cut short by `limit` with the `from` that continues it (`APIRoutes.nextFrom`).
    mutating func setNextFrom(_ next: Int64?) {
        if let next { headers[.init("X-Vigil-Next-From")!] = String(next) }
    }
}
