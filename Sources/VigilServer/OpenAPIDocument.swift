import Foundation

/// The OpenAPI 3.1 description of the HTTP API, served at `/api/v1/openapi.json`. Tests check
/// that its paths and methods are exactly the routes the daemon serves and that each answers.
enum OpenAPIDocument {
    /// The document as served: `json` with, on every operation, the error answers it can give
    /// (400 for one with parameters or a body, 401 where a token can be required, 403 for a write,
    /// 404 for one naming a machine, 413 for a body, 503 while the health service is stopping),
    /// all with the one error body — added here once rather than by hand on every operation.
    static let served: String = {
        guard var doc = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              var paths = doc["paths"] as? [String: [String: Any]] else { return json }
        let error: [String: Any] = ["$ref": "#/components/responses/Error"]
        for (path, ops) in paths {
            var newOps = ops
            for (method, value) in ops {
                guard var op = value as? [String: Any] else { continue }
                var responses = op["responses"] as? [String: Any] ?? [:]
                let open = (op["security"] as? [Any])?.isEmpty == true
                let write = method != "get"
                var codes: [String] = []
                if op["parameters"] != nil || op["requestBody"] != nil { codes.append("400") }
                if !open { codes.append("401") }
                if write { codes += ["403", "413", "503"] }
                if path.contains("{id}") { codes.append("404") }
                for c in codes where responses[c] == nil { responses[c] = error }
                op["responses"] = responses
                newOps[method] = op
            }
            paths[path] = newOps
        }
        doc["paths"] = paths
        guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .withoutEscapingSlashes]) else { return json }
        return String(decoding: data, as: UTF8.self)
    }()

    static let json: String = #"""
    {
      "openapi": "3.1.0",
      "info": {"title": "Vigil API", "version": "1", "description": "Vigil, the IoT sensor analytics appliance: machines, sensor series (raw and minute/day rollups), health, model registry, maintenance, quarantine. Times are epoch milliseconds in responses; query times accept epoch ms, RFC 3339 or a date (YYYY-MM-DD: the plant's local day in its site.timezone). Day rollups are the plant's local days. Machine ids containing '/' are percent-encoded in paths. Errors are {\"error\", \"detail\"}."},
      "servers": [{"url": "/"}],
      "security": [{"bearer": []}, {}],
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Needed when the daemon has tokens configured: a reader or admin token for reads, an admin token for writes."}},
        "parameters": {
          "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^(?:[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.\\.[A-Za-z0-9_.:-]+)(?:/(?:[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.\\.[A-Za-z0-9_.:-]+))*$"}, "description": "Machine id (percent-encoded: a machine id may contain /)."},
          "sensor": {"name": "sensor", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^(?:[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.\\.[A-Za-z0-9_.:-]+)$"}},
          "from": {"name": "from", "in": "query", "schema": {"$ref": "#/components/schemas/Time"}, "description": "Inclusive start: epoch ms, RFC 3339, or a date (the start of that local day). A from at or after to gives an empty answer."},
          "to": {"name": "to", "in": "query", "schema": {"$ref": "#/components/schemas/Time"}, "description": "Exclusive end: epoch ms, RFC 3339, or a date (the end of that local day: from=D&to=D is the whole day D)."},
          "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}, "description": "At most this many items (default 10000)."},
          "limit10k": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}, "description": "At most this many items (default 100)."}
        },
        "responses": {
          "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        },
        "schemas": {
          "Error": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
          "Time": {"anyOf": [{"type": "integer", "format": "int64", "minimum": -9223372036854775808, "maximum": 9223372036854775807, "description": "Epoch milliseconds"},
                             {"type": "string", "format": "date-time", "description": "RFC 3339, years 0000 to 9999"},
                             {"type": "string", "format": "date", "description": "A local date of the plant (YYYY-MM-DD)"}]},
          "Machine": {"type": "object", "required": ["id", "sensors", "lastSeen"], "properties": {
            "id": {"type": "string"}, "sensors": {"type": "array", "items": {"type": "string"}}, "lastSeen": {"type": "integer"},
            "health": {"type": ["number", "null"]}, "status": {"type": ["string", "null"], "enum": ["ok", "watch", "warning", "alarm", null]},
            "missing": {"type": "integer", "description": "Readings its devices numbered (seq) that never arrived; see /api/v1/machines/{id}/quality."},
            "faultySensors": {"type": "integer", "description": "Its sensors in fault; see /api/v1/machines/{id}/sensors."}}},
          "SensorFault": {"type": ["object", "null"], "description": "A sensor fault; null where a sensor has none.", "required": ["kind", "since", "evidence"], "properties": {
            "kind": {"type": "string", "enum": ["stuck", "spike", "dropout", "out_of_range", "drift", "noise"]},
            "since": {"type": "integer", "description": "When the faulty behaviour began (epoch ms, data time)."},
            "evidence": {"type": "string", "description": "What was seen, against what the sensor did while commissioned."}}},
          "SensorStatus": {"type": "object", "required": ["sensor", "state", "fault", "lastSeen", "cadenceMs", "unit", "description", "min", "max", "step"], "properties": {
            "sensor": {"type": "string"}, "state": {"type": "string", "enum": ["ok", "suspect", "fault"]},
            "fault": {"$ref": "#/components/schemas/SensorFault"},
            "lastSeen": {"type": ["integer", "null"]}, "cadenceMs": {"type": ["integer", "null"], "description": "Its usual interval, learned while commissioned; null before."},
            "unit": {"type": ["string", "null"], "description": "Engineering unit: [[sensors]] in the config, under a device's birth (Sparkplug engUnit), under PUT; null when nothing says."},
            "description": {"type": ["string", "null"]},
            "min": {"type": ["number", "null"], "description": "Lowest value the instrument can read (engLow)."},
            "max": {"type": ["number", "null"], "description": "Highest value the instrument can read (engHigh)."},
            "step": {"type": ["number", "null"], "description": "Its resolution."}}},
          "SensorMetadata": {"type": "object", "description": "The API's own metadata of a sensor; a field left out (or null) is not set by the API. min must be below max (400 otherwise).", "properties": {
            "unit": {"type": ["string", "null"], "minLength": 1, "maxLength": 32}, "description": {"type": ["string", "null"], "maxLength": 512},
            "min": {"type": ["number", "null"]}, "max": {"type": ["number", "null"]}, "step": {"type": ["number", "null"], "exclusiveMinimum": 0}}},
          "SparkplugNode": {"type": "object", "required": ["group", "edge", "machine", "online", "lastMessageAt", "messages", "births", "deaths", "staleDeaths", "rebirthRequests", "unknownAliases", "nullMetrics", "devices"], "properties": {
            "group": {"type": "string"}, "edge": {"type": "string"}, "machine": {"type": "string", "description": "The machine of the node's own metrics."},
            "online": {"type": "boolean"}, "bdSeq": {"type": ["integer", "null"]}, "lastMessageAt": {"type": "integer"},
            "messages": {"type": "object", "description": "Loss accounting of the node's messages by seq: missing, duplicates, late, restarts (births).", "properties": {
              "missing": {"type": "integer"}, "duplicates": {"type": "integer"}, "late": {"type": "integer"}, "restarts": {"type": "integer"}}},
            "births": {"type": "integer"}, "deaths": {"type": "integer"}, "staleDeaths": {"type": "integer"}, "rebirthRequests": {"type": "integer"},
            "unknownAliases": {"type": "integer"}, "nullMetrics": {"type": "integer"},
            "devices": {"type": "array", "items": {"type": "object", "required": ["device", "machine", "online"], "properties": {
              "device": {"type": "string"}, "machine": {"type": "string"}, "online": {"type": "boolean"}}}}}},
          "SeriesColumns": {"type": "object", "required": ["ts", "value"], "description": "Raw readings as columns (format=columns): value[i] was read at ts[i], oldest first.", "properties": {
            "ts": {"type": "array", "items": {"type": "integer"}}, "value": {"type": "array", "items": {"type": ["number", "null"]}}}},
          "SeriesPoint": {"type": "object", "required": ["ts", "count", "mean", "min", "max", "sum", "stddev"], "properties": {
            "ts": {"type": "integer", "description": "Reading time, or bucket start (a day: the instant of local midnight)."}, "count": {"type": "integer"},
            "date": {"type": "string", "format": "date", "description": "Day points only: the plant's local date."},
            "lengthMs": {"type": "integer", "description": "Day points only: the day's length (23, 24 or 25 hours across DST changes)."},
            "mean": {"type": ["number", "null"]}, "min": {"type": ["number", "null"]}, "max": {"type": ["number", "null"]},
            "sum": {"type": ["number", "null"]}, "stddev": {"type": ["number", "null"], "description": "Population standard deviation."}}},
          "Health": {"type": "object", "required": ["machine", "confidence", "contributors"], "properties": {
            "machine": {"type": "string"}, "health": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
            "status": {"type": ["string", "null"], "enum": ["ok", "watch", "warning", "alarm", null]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}, "updatedAt": {"type": ["integer", "null"]},
            "model": {"type": ["object", "null"], "properties": {"version": {"type": "integer"}, "trainedAt": {"type": "integer"}}},
            "contributors": {"type": "array", "items": {"type": "object", "properties": {"sensor": {"type": "string"}, "share": {"type": "number"}, "sensorFault": {"type": "string", "enum": ["stuck", "spike", "dropout", "out_of_range", "drift", "noise"], "description": "Set when the sensor was left out of the score because it is faulty (share 0)."}}}},
            "commissioningRows": {"type": ["integer", "null"]}, "commissioningNeeded": {"type": ["integer", "null"]}}},
          "HealthPoint": {"type": "object", "required": ["ts", "health", "status"], "properties": {
            "ts": {"type": "integer"}, "health": {"type": "number"}, "status": {"type": "string"}}},
          "ModelVersion": {"type": "object", "required": ["version", "active", "createdAt", "trigger", "trainFrom", "trainTo", "rowCount", "contentSha256", "sensors", "parameters", "codeVersion", "metrics", "gateDecision", "gateReason"], "properties": {
            "version": {"type": "integer"}, "active": {"type": "boolean"}, "createdAt": {"type": "integer"},
            "trigger": {"type": "string", "enum": ["commissioning", "maintenance", "drift", "schedule"]}, "parentVersion": {"type": ["integer", "null"]},
            "trainFrom": {"type": "integer"}, "trainTo": {"type": "integer"}, "rowCount": {"type": "integer"}, "contentSha256": {"type": "string"},
            "sensors": {"type": "array", "items": {"type": "string"}}, "parameters": {"type": "object", "additionalProperties": {"type": "number"}},
            "codeVersion": {"type": "string"}, "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
            "gateDecision": {"type": "string", "enum": ["promoted", "rejected"]}, "gateReason": {"type": "string"}}},
          "ActiveVersion": {"type": "object", "required": ["machine", "version"], "properties": {"machine": {"type": "string"}, "version": {"type": "integer"}}},
          "RemovedMachine": {"type": "object", "required": ["machine", "sensors", "readings", "rollupRows", "modelVersions", "healthPoints"], "properties": {
            "machine": {"type": "string"}, "sensors": {"type": "integer"}, "readings": {"type": "integer"}, "rollupRows": {"type": "integer"},
            "modelVersions": {"type": "integer"}, "healthPoints": {"type": "integer"}}},
          "QualityCounts": {"type": "object", "required": ["missing", "duplicates", "late", "restarts"], "properties": {
            "missing": {"type": "integer", "description": "Numbered readings (seq) skipped and not arrived since."}, "duplicates": {"type": "integer"},
            "late": {"type": "integer", "description": "Arrived after a higher number, filling a gap."}, "restarts": {"type": "integer", "description": "The device's numbering began again (not loss)."}}},
          "Quality": {"type": "object", "required": ["machine", "total", "sensors"], "properties": {
            "machine": {"type": "string"}, "total": {"$ref": "#/components/schemas/QualityCounts"},
            "sensors": {"type": "array", "items": {"type": "object", "required": ["sensor", "counts"], "properties": {
              "sensor": {"type": "string"}, "highestSeq": {"type": ["integer", "null"]}, "counts": {"$ref": "#/components/schemas/QualityCounts"}}}},
            "minutes": {"type": "array", "description": "Minutes of [from, to) with missing readings (all sensors together; placed evenly between the arrivals around each gap), oldest first, at most 10000.", "items": {"type": "object", "required": ["ts", "missing"], "properties": {"ts": {"type": "integer"}, "missing": {"type": "integer"}}}}}},
          "MaintenanceEvent": {"type": "object", "required": ["machine", "at", "note"], "properties": {"machine": {"type": "string"}, "at": {"type": "integer"}, "note": {"type": "string"}}},
          "UpstreamLane": {"type": "object", "required": ["sink", "url", "stream", "cursor", "sentRows", "failures", "pendingRows"], "properties": {
            "sink": {"type": "string"}, "url": {"type": "string"}, "stream": {"type": "string", "enum": ["rollup_minute", "rollup_day", "health", "model", "maintenance", "event", "quarantine"]},
            "cursor": {"type": "integer"}, "sentRows": {"type": "integer"}, "failures": {"type": "integer"}, "pendingRows": {"type": "integer"},
            "oldestPendingAt": {"type": ["integer", "null"]}, "lastError": {"type": ["string", "null"]}}},
          "Event": {"type": "object", "required": ["id", "at", "kind", "detail"], "properties": {
            "id": {"type": "integer"}, "at": {"type": "integer"}, "kind": {"type": "string", "enum": ["status_changed", "machine_silent", "machine_back", "machine_removed", "model_promoted", "model_rolled_back", "model_rejected", "daemon_degraded", "daemon_recovered", "sensor_fault", "sensor_recovered"]},
            "machine": {"type": "string"}, "status": {"type": "string", "enum": ["ok", "watch", "warning", "alarm"]}, "previousStatus": {"type": "string", "enum": ["ok", "watch", "warning", "alarm"]},
            "health": {"type": "number"}, "contributors": {"type": "array", "items": {"type": "object", "properties": {"sensor": {"type": "string"}, "share": {"type": "number"}, "sensorFault": {"type": "string", "enum": ["stuck", "spike", "dropout", "out_of_range", "drift", "noise"], "description": "Set when the sensor was left out of the score because it is faulty (share 0)."}}}},
            "modelVersion": {"type": "integer"}, "sensor": {"type": "string"}, "fault": {"$ref": "#/components/schemas/SensorFault"}, "detail": {"type": "string"}}},
          "QuarantineItem": {"type": "object", "required": ["id", "receivedAt", "topic", "reason", "detail"], "properties": {
            "id": {"type": "integer"}, "receivedAt": {"type": "integer"}, "topic": {"type": "string"}, "payload": {"type": ["string", "null"]},
            "payloadBase64": {"type": ["string", "null"]}, "reason": {"type": "string"}, "detail": {"type": "string"}}},
          "DaemonStatus": {"type": "object", "required": ["status", "mqttConnected", "messages", "readingsAccepted", "readingsStored"], "properties": {
            "status": {"type": "string"}, "mqttConnected": {"type": "boolean"}, "messages": {"type": "integer"}, "readingsAccepted": {"type": "integer"},
            "readingsStored": {"type": "integer"}, "lastMessageAt": {"type": ["integer", "null"]},
            "timezone": {"type": "string", "description": "The plant's time zone (site.timezone, IANA): day rollups are its local days."},
            "reasons": {"type": "array", "items": {"type": "object", "required": ["reason", "detail"], "properties": {"reason": {"type": "string", "enum": ["storage_failing", "disk_low", "mqtt_disconnected", "rollup_lag"]}, "detail": {"type": "string"}}}},
            "storageFreeBytes": {"type": ["integer", "null"]}, "databaseBytes": {"type": "integer"}}}
        }
      },
      "paths": {
        "/api/v1/machines": {"get": {"summary": "Machines with sensors, last-seen time, health and status", "responses": {"200": {"description": "Machines", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Machine"}}}}}, "401": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}": {"delete": {"summary": "Decommission a machine: delete its readings, rollups, health, models and maintenance log, and clear its retained health topic (admin)", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "What was removed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RemovedMachine"}}}}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/health": {"get": {"summary": "Current health of a machine", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "Health", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/health/history": {"get": {"summary": "Health per scored minute", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"}, {"$ref": "#/components/parameters/limit"}], "responses": {"200": {"description": "History, oldest first (limit 1-100000, default 10000)", "headers": {"X-Vigil-Next-From": {"description": "Present when limit cut the answer short: the from of the next page.", "schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/HealthPoint"}}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/sensors/{sensor}/series": {"get": {"summary": "Raw readings or minute/day rollups of one sensor", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/sensor"}, {"name": "resolution", "in": "query", "schema": {"type": "string", "enum": ["raw", "minute", "day"], "default": "raw"}}, {"name": "format", "in": "query", "description": "objects: an array of points; columns (resolution=raw only, else 400): one object of two arrays, ts and value, about a fifth of the bytes.", "schema": {"type": "string", "enum": ["objects", "columns"], "default": "objects"}}, {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"}, {"$ref": "#/components/parameters/limit"}], "responses": {"200": {"description": "Points, oldest first (limit 1-100000, default 10000; an explicit minute/day range spans at most 100000 buckets, else 400)", "headers": {"X-Vigil-Next-From": {"description": "Present when limit cut the answer short: the from of the next page.", "schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"oneOf": [{"type": "array", "items": {"$ref": "#/components/schemas/SeriesPoint"}}, {"$ref": "#/components/schemas/SeriesColumns"}]}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/models": {"get": {"summary": "Model versions with lineage, the active one marked", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "Versions", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/ModelVersion"}}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/models/{version}/promote": {"post": {"summary": "Make a version the active one (admin)", "parameters": [{"$ref": "#/components/parameters/id"}, {"name": "version", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807}}], "responses": {"200": {"description": "The new active version", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActiveVersion"}}}}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/models/rollback": {"post": {"summary": "Go back to the active version's parent (admin)", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "The new active version", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActiveVersion"}}}}, "403": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/maintenance": {"post": {"summary": "Record maintenance; the health reference is re-commissioned (admin)", "parameters": [{"$ref": "#/components/parameters/id"}], "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"at": {"type": ["integer", "null"], "format": "int64", "minimum": -9223372036854775808, "maximum": 9223372036854775807, "description": "When (epoch ms; default now)"}, "note": {"type": ["string", "null"], "maxLength": 4096}}}}}}, "responses": {"200": {"description": "The event", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MaintenanceEvent"}}}}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/quality": {"get": {"summary": "Loss accounting from the devices' sequence numbers: missing, duplicate and late readings and counter restarts, per sensor and in total, and the minutes with missing readings", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"}], "responses": {"200": {"description": "Quality", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Quality"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/sensors/{sensor}": {"put": {"summary": "Sets a sensor's metadata as the API's own source (admin): unit, description, physical min/max, step; laid over the config's [[sensors]] and the device's. Answers the sensor with its metadata resolved", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/sensor"}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SensorMetadata"}}}}, "responses": {"200": {"description": "The sensor", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SensorStatus"}}}}, "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/machines/{id}/sensors": {"get": {"summary": "Every sensor of a machine as its sensor-fault detector judges it: ok, suspect or fault (kind, since, evidence), last reading, learned cadence, and its metadata (unit, description, physical range, step)", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "Sensors", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/SensorStatus"}}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/events": {"get": {"summary": "What operators are told (status changes, silence, model changes, daemon degradation), newest first; a full page carries X-Vigil-Next-Before", "parameters": [{"$ref": "#/components/parameters/limit10k"}, {"name": "before", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807}, "description": "Only events with a smaller id"}, {"name": "machine", "in": "query", "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^(?:[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.\\.[A-Za-z0-9_.:-]+)(?:/(?:[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.[A-Za-z0-9_:-][A-Za-z0-9_.:-]*|\\.\\.[A-Za-z0-9_.:-]+))*$"}}, {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["status_changed", "machine_silent", "machine_back", "machine_removed", "model_promoted", "model_rolled_back", "model_rejected", "daemon_degraded", "daemon_recovered", "sensor_fault", "sensor_recovered"]}}], "responses": {"200": {"description": "Events", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/sparkplug/nodes": {"get": {"summary": "Sparkplug B edge nodes (with [sparkplug] enabled): online state, bdSeq, message loss by seq, births, deaths, rebirth requests, unknown aliases, devices (empty when disabled)", "responses": {"200": {"description": "Nodes", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/SparkplugNode"}}}}}}}},
        "/api/v1/upstream": {"get": {"summary": "Streaming to the central cluster: per sink and stream the acknowledged cursor, rows sent, failures and what is pending (empty without [[upstream.clickhouse]])", "responses": {"200": {"description": "Lanes", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/UpstreamLane"}}}}}}}},
        "/api/v1/quarantine": {"get": {"summary": "Rejected inputs, newest first", "parameters": [{"$ref": "#/components/parameters/limit10k"}], "responses": {"200": {"description": "Entries", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/QuarantineItem"}}}}}}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
        "/metrics": {"get": {"summary": "Prometheus text format", "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}}}},
        "/healthz": {"get": {"summary": "The daemon's own liveness and readiness", "security": [], "responses": {"200": {"description": "Status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DaemonStatus"}}}}}}},
        "/": {"get": {"summary": "The operator dashboard (HTML)", "security": [], "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}}}}
      }
    }
    """#
}
