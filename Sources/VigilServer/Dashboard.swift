import Foundation

/// The operator dashboard served at `/`: one self-contained page (no CDN, no external files).
/// Fleet overview worst first with status colours and last-seen age; a machine view with health
/// over time (band edges, alarm periods, model changes and maintenance marked), its contributing
/// sensors, model lineage, and minute/day sensor charts with min–max bands, each sensor's state
/// with its unit and physical range (what it cannot read shaded), and its sensor faults shaded with their kind (a machine with a faulty sensor is flagged in the
/// fleet list apart from its health status, which a sensor fault alone never moves); times and axes
/// in the plant's time (`site.timezone`, with its offset), the value and time under the pointer; a machine that went quiet shows its last day of
/// data; `/#<machine>` opens that machine. Admin actions (record maintenance, promote, roll back) use the token it keeps. It
/// refreshes itself every 15 s and asks for a bearer token when the API wants one.
enum Dashboard {
    /// The page for a plant in `timeZone` (an IANA name: its times are shown in it).
    static func page(timeZone: String) -> String { html.replacingOccurrences(of: "__VIGIL_TIMEZONE__", with: timeZone) }

    static let html: String = #"""
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
    <title>Vigil</title>
    <style>
    body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d232b}
    header{background:#1d232b;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
    header h1{font-size:18px;margin:0} header span{opacity:.7}
    main{padding:16px 20px;display:grid;gap:16px;grid-template-columns:minmax(420px,1fr) 2fr}
    section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002}
    table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}
    tr.m{cursor:pointer} tr.m:hover{background:#f0f4ff} tr.sel{background:#e4ecff}
    .st{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:12px}
    .ok{background:#2e8540}.watch{background:#b58900}.warning{background:#d96c00}.alarm{background:#c0392b}.none{background:#8a939c}
    .fault{background:#7b4fa6}.suspect{background:#a58cc0}
    svg{width:100%;height:180px;background:#fafbfc;border:1px solid #eee;border-radius:4px}
    .chart{position:relative} .chart h3{margin:12px 0 4px;font-size:13px} .muted{color:#6b7480} select{margin-left:8px}
    #tip{position:fixed;pointer-events:none;background:#1d232bee;color:#fff;font-size:12px;padding:3px 7px;border-radius:4px;display:none;z-index:9}
    .note{background:#fff6e0;border-left:3px solid #d9a400;padding:4px 8px;margin:6px 0}
    button{font:inherit;font-size:12px;margin:4px 6px 0 0;padding:2px 8px;border:1px solid #b8c0cc;border-radius:4px;background:#fff;cursor:pointer}
    button:hover{background:#eef3ff}
    </style></head><body>
    <header><h1>Vigil</h1><span id="summary">loading…</span></header>
    <main>
    <section><h2>Fleet</h2><table id="fleet"><thead><tr><th>machine</th><th>health</th><th>status</th><th>sensors</th><th>last seen</th></tr></thead><tbody></tbody></table></section>
    <section id="detail"><h2 id="title">Select a machine</h2><div id="why" class="muted"></div><div id="quiet"></div>
    <div id="actions"></div>
    <div class="chart"><h3>Health (per minute) <span class="muted">— dashed: band edges 70 / 60 / 50; red: in alarm; marks: model versions (v, at the end of their training data) and maintenance (M)</span></h3><svg id="health" viewBox="0 0 600 180" preserveAspectRatio="none"></svg></div>
    <div id="sensors"></div>
    <h3>Model versions</h3><table id="models"><thead><tr><th>version</th><th>trigger</th><th>trained on</th><th>rows</th><th>gate</th><th></th></tr></thead><tbody></tbody></table>
    </section></main><div id="tip"></div>
    <script>
    // The selected machine is in the address (`/#pump-01`), so a link opens it.
    let token = localStorage.getItem('vigilToken'), selected = decodeURIComponent(location.hash.slice(1)) || null, resolution = 'minute';
    async function api(path) {
      const r = await fetch(path, {headers: token ? {Authorization: 'Bearer ' + token} : {}});
      if (r.status === 401) { token = prompt('This Vigil needs an access token:'); if (token) localStorage.setItem('vigilToken', token); throw new Error('unauthorized'); }
      if (!r.ok) throw new Error(path + ': ' + r.status);
      return r.json();
    }
    const enc = s => encodeURIComponent(s);
    const esc = s => String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[c]);
    // A sensor's unit and physical range as its chart's title says them.
    const unitOf = c => !c || (c.unit == null && c.min == null && c.max == null) ? '' :
      ` <span class="muted">(${[c.unit ? esc(c.unit) : null, c.min != null || c.max != null ? `can read ${c.min ?? '−∞'} to ${c.max ?? '∞'}` : null].filter(Boolean).join(', ')})</span>`;
    const age = ms => { const s = Math.round((Date.now() - ms) / 1000); return s < 120 ? s + ' s ago' : s < 7200 ? Math.round(s / 60) + ' min ago' : s < 172800 ? Math.round(s / 3600) + ' h ago' : Math.round(s / 86400) + ' d ago'; };
    // Times are the plant's (site.timezone), with their offset, whatever the browser's zone.
    const ZONE = '__VIGIL_TIMEZONE__';
    const local = (ms, opts) => new Date(ms).toLocaleString('sv-SE', {timeZone: ZONE, ...opts});
    const at = ms => local(ms, {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', timeZoneName: 'shortOffset'});
    const when = ms => local(ms, {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'});
    // The plant's offset from UTC at `ms` (ms), for ticks on its local hours.
    const offsetAt = ms => { const p = {}; for (const x of new Intl.DateTimeFormat('en-US', {timeZone: ZONE, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric'}).formatToParts(new Date(ms))) p[x.type] = +x.value;
      return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(ms / 60000) * 60000; };
    const badge = s => `<span class="st ${s || 'none'}">${s || 'commissioning'}</span>`;
    // Local-time axis ticks: the smallest step that gives at most six labels.
    function ticks(t0, t1) {
      const m = 60000, steps = [m, 2*m, 5*m, 10*m, 15*m, 30*m, 60*m, 120*m, 180*m, 360*m, 720*m, 1440*m, 2880*m, 10080*m];
      const step = steps.find(s => (t1 - t0) / s <= 6) || steps[steps.length - 1];
      const off = -offsetAt(t0), out = [];
      for (let t = Math.ceil((t0 - off) / step) * step + off; t <= t1; t += step) out.push(t);
      const long = t1 - t0 > 86400000;
      return out.map(t => [t, local(t, long ? {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'} : {hour: '2-digit', minute: '2-digit'})]);
    }
    // A time chart: line (and min-max band), y labels, local-time x axis, optional band edges,
    // shaded spans and vertical markers; the pointer shows the nearest point's time and value.
    function chart(svg, pts, o) {
      if (!pts.length) { svg.innerHTML = '<text x="10" y="20" fill="#888">no data in this range</text>'; svg.onmousemove = null; return; }
      const t0 = o.from ?? pts[0].ts, t1 = Math.max(o.to ?? pts[pts.length - 1].ts, t0 + 60000);
      let lo = o.lo, hi = o.hi;
      if (lo === undefined) { lo = Math.min(...pts.map(p => o.band ? p.min : p.v)); hi = Math.max(...pts.map(p => o.band ? p.max : p.v)); if (hi === lo) { hi += 1; lo -= 1; } }
      const L = 40, R = 595, x = t => (L + (t - t0) / (t1 - t0) * (R - L)).toFixed(1), y = v => (150 - (v - lo) / (hi - lo) * 142).toFixed(1);
      let out = '';
      for (const [a, b] of o.spans || []) out += `<rect x="${x(a)}" y="8" width="${Math.max(1, x(b) - x(a)).toFixed(1)}" height="142" fill="#c0392b22"/>`;
      for (const [a, b, kind] of o.faults || []) if (b >= t0 && a <= t1) { const xa = x(Math.max(a, t0)), xb = x(Math.min(b, t1));
        out += `<rect class="fault" x="${xa}" y="8" width="${Math.max(2, xb - xa).toFixed(1)}" height="142" fill="#7b4fa633"/><text x="${+xa + 2}" y="26" font-size="9" fill="#7b4fa6">${kind}</text>`; }
      // What the instrument cannot read (its declared physical range), shaded where it shows.
      if (o.limits) { const [mn, mx] = o.limits;
        if (mx !== null && mx !== undefined && mx < hi) out += `<rect class="beyond" x="${L}" y="8" width="${R - L}" height="${Math.max(0, y(mx) - 8).toFixed(1)}" fill="#c0392b14"/>`;
        if (mn !== null && mn !== undefined && mn > lo) out += `<rect class="beyond" x="${L}" y="${y(mn)}" width="${R - L}" height="${Math.max(0, 150 - y(mn)).toFixed(1)}" fill="#c0392b14"/>`; }
      for (const e of o.edges || []) out += `<line x1="${L}" x2="${R}" y1="${y(e)}" y2="${y(e)}" stroke="#999" stroke-dasharray="4 3" stroke-width="0.7"/><text x="${R - 2}" y="${y(e) - 2}" font-size="9" fill="#888" text-anchor="end">${e}</text>`;
      if (o.band) out += `<polygon fill="${o.color}33" points="${pts.map(p => x(p.ts) + ',' + y(p.max)).join(' ')} ${pts.slice().reverse().map(p => x(p.ts) + ',' + y(p.min)).join(' ')}"/>`;
      out += `<polyline fill="none" stroke="${o.color}" stroke-width="1.5" points="${pts.map(p => x(p.ts) + ',' + y(p.v)).join(' ')}"/>`;
      // A model's training ends the minute before it scores: marks just before the range sit on its edge.
      for (const k of o.marks || []) if (k.ts >= t0 - 120000 && k.ts <= t1) { const at = x(Math.max(k.ts, t0));
        out += `<line class="mark" x1="${at}" x2="${at}" y1="8" y2="150" stroke="${k.color}" stroke-width="1"/><text x="${+at + 2}" y="16" font-size="9" fill="${k.color}">${k.label}</text>`; }
      out += `<text x="${L - 4}" y="12" font-size="10" fill="#666" text-anchor="end">${hi.toFixed(hi - lo < 10 ? 2 : 0)}</text><text x="${L - 4}" y="152" font-size="10" fill="#666" text-anchor="end">${lo.toFixed(hi - lo < 10 ? 2 : 0)}</text>`;
      out += `<line x1="${L}" x2="${R}" y1="150" y2="150" stroke="#bbb"/>`;
      for (const [t, label] of ticks(t0, t1)) out += `<line x1="${x(t)}" x2="${x(t)}" y1="150" y2="154" stroke="#999"/><text class="ax" x="${x(t)}" y="167" font-size="10" fill="#555" text-anchor="middle">${label}</text>`;
      svg.innerHTML = out;
      const tip = document.getElementById('tip');
      svg.onmousemove = e => {
        const r = svg.getBoundingClientRect(), t = t0 + ((e.clientX - r.left) / r.width * 600 - L) / (R - L) * (t1 - t0);
        let best = pts[0]; for (const p of pts) if (Math.abs(p.ts - t) < Math.abs(best.ts - t)) best = p;
        tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
        tip.textContent = `${at(best.ts)} · ${best.v.toFixed(2)}` + (o.band ? ` (min ${best.min.toFixed(2)}, max ${best.max.toFixed(2)})` : '') + (best.s ? ' · ' + best.s : '');
      };
      svg.onmouseleave = () => { tip.style.display = 'none'; };
    }
    // Admin actions: POST with the kept token, asking for an admin token when refused.
    async function post(path, body) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const r = await fetch(path, {method: 'POST', body: body ? JSON.stringify(body) : undefined, headers: token ? {Authorization: 'Bearer ' + token} : {}});
        if ((r.status === 401 || r.status === 403) && attempt === 0) { token = prompt('This needs an admin token:'); if (!token) return; localStorage.setItem('vigilToken', token); continue; }
        const answer = await r.json().catch(() => ({}));
        if (!r.ok) { alert(`${path}: ${r.status} ${answer.detail || ''}`); return; }
        refresh(); return answer;
      }
    }
    async function fleet() {
      const ms = await api('/api/v1/machines');
      ms.sort((a, b) => (a.health ?? 1e9) - (b.health ?? 1e9) || a.id.localeCompare(b.id));
      const alarms = ms.filter(m => m.status === 'alarm').length, faulty = ms.filter(m => m.faultySensors > 0).length;
      document.getElementById('summary').textContent = `${ms.length} machines · ${alarms} in alarm · ${faulty} with a sensor fault · updated ${at(Date.now())} (${ZONE})`;
      document.querySelector('#fleet tbody').innerHTML = ms.map(m =>
        `<tr class="m${m.id === selected ? ' sel' : ''}" data-id="${m.id}"><td>${m.id}</td><td>${m.health == null ? '–' : m.health.toFixed(1)}</td><td>${badge(m.status)}</td><td>${m.faultySensors ? `<span class="st fault">${m.faultySensors} sensor fault${m.faultySensors > 1 ? 's' : ''}</span>` : ''}</td><td>${age(m.lastSeen)}</td></tr>`).join('');
      document.querySelectorAll('tr.m').forEach(tr => tr.onclick = () => { selected = tr.dataset.id; history.replaceState(null, '', '#' + enc(selected)); refresh(); });
      if (!ms.some(m => m.id === selected) && ms.length) { selected = ms[0].id; }
      return ms;
    }
    async function detail(machines) {
      const m = machines.find(m => m.id === selected); if (!m) return;
      const id = enc(m.id), h = await api(`/api/v1/machines/${id}/health`);
      document.getElementById('title').innerHTML = `${m.id} ${badge(h.status)} <span class="muted">${h.health == null ? `commissioning ${h.commissioningRows ?? 0}/${h.commissioningNeeded ?? '?'} minutes` : 'health ' + h.health.toFixed(1) + ' · confidence ' + (h.confidence * 100).toFixed(0) + ' %'}</span>`;
      document.getElementById('why').textContent = h.contributors.length ? 'Driven by: ' + h.contributors.map(c => c.sensorFault ? `${c.sensor} (sensor fault: ${c.sensorFault.replace('_', ' ')}, left out)` : `${c.sensor} ${(c.share * 100).toFixed(0)} %`).join(', ') + (h.model ? ` · model v${h.model.version}` : '') : '';
      // A machine that went quiet is shown as it was: its last day of data, not an empty "now".
      const quiet = Date.now() - m.lastSeen > 7200000, end = quiet ? m.lastSeen + 60000 : Date.now();
      document.getElementById('quiet').innerHTML = quiet ? `<div class="note">Quiet since ${at(m.lastSeen)} (${age(m.lastSeen)}): showing its last data.</div>` : '';
      const acts = document.getElementById('actions');
      acts.innerHTML = '<button id="maint">Record maintenance…</button><button id="back">Roll back model</button>';
      document.getElementById('maint').onclick = () => { const note = prompt(`Maintenance on ${m.id}: what was done?`); if (note !== null) post(`/api/v1/machines/${id}/maintenance`, {note}); };
      document.getElementById('back').onclick = () => { if (confirm(`Roll ${m.id} back to the model its active one replaced?`)) post(`/api/v1/machines/${id}/models/rollback`); };
      const from = end - 86400000 * 3;
      const hist = await api(`/api/v1/machines/${id}/health/history?from=${from}&to=${end}`);
      const models = await api(`/api/v1/machines/${id}/models`);
      const spans = []; let start = null;
      for (const p of hist) { if (p.status === 'alarm' && start === null) start = p.ts; if (p.status !== 'alarm' && start !== null) { spans.push([start, p.ts]); start = null; } }
      if (start !== null) spans.push([start, hist[hist.length - 1].ts + 60000]);
      const marks = models.filter(v => v.gateDecision === 'promoted').map(v => ({ts: v.trainTo, label: 'v' + v.version, color: '#1b8a5a'}))
        .concat(models.filter(v => v.trigger === 'maintenance').map(v => ({ts: v.trainFrom, label: 'M', color: '#b35c00'})));
      const t0 = hist.length ? hist[0].ts : from;
      chart(document.getElementById('health'), hist.map(p => ({ts: p.ts, v: p.health, s: p.status})),
            {lo: 0, hi: 100, color: '#2b6cd4', edges: [70, 60, 50], spans, marks, from: t0, to: end});
      document.querySelector('#models tbody').innerHTML = models.slice().reverse().map(v =>
        `<tr><td>${v.version}${v.active ? ' ●' : ''}</td><td>${v.trigger}</td><td>${when(v.trainFrom)} – ${when(v.trainTo)}</td><td>${v.rowCount}</td><td title="${v.gateReason}">${v.gateDecision}</td><td>${v.active ? '' : `<button data-v="${v.version}">promote</button>`}</td></tr>`).join('');
      document.querySelectorAll('#models button').forEach(b => b.onclick = () => { if (confirm(`Make version ${b.dataset.v} active for ${m.id}?`)) post(`/api/v1/machines/${id}/models/${b.dataset.v}/promote`); });
      // Each sensor's state, and its faults (opened, and closed by a recovery) shaded on its chart.
      const states = Object.fromEntries((await api(`/api/v1/machines/${id}/sensors`)).map(c => [c.sensor, c]));
      const opened = await api(`/api/v1/events?machine=${id}&kind=sensor_fault&limit=1000`);
      const recovered = await api(`/api/v1/events?machine=${id}&kind=sensor_recovered&limit=1000`);
      const faultSpans = s => opened.filter(e => e.sensor === s).map(e => {
        const r = recovered.find(r => r.sensor === s && r.fault.since === e.fault.since && r.fault.kind === e.fault.kind);
        return [e.fault.since, r ? r.at : end, e.fault.kind.replace('_', ' ')]; });
      const state = c => !c ? '' : c.fault ? ` <span class="st fault">sensor fault: ${c.fault.kind.replace('_', ' ')}</span> <span class="muted">since ${at(c.fault.since)} — ${c.fault.evidence}</span>`
        : c.state === 'suspect' ? ' <span class="st suspect">suspect</span>' : '';
      const box = document.getElementById('sensors');
      box.innerHTML = `<h3>Sensors <select id="res"><option value="minute">minute, last 24 h</option><option value="day">day, last 90 days</option></select> <span class="muted">— purple: sensor faults (left out of health)</span></h3>` +
        m.sensors.map(s => `<div class="chart"><h3 title="${esc(states[s]?.description ?? '')}">${s}${unitOf(states[s])}${state(states[s])}</h3><svg data-s="${s}" viewBox="0 0 600 180" preserveAspectRatio="none"></svg></div>`).join('');
      const sel = document.getElementById('res'); sel.value = resolution; sel.onchange = () => { resolution = sel.value; refresh(); };
      const sfrom = end - (resolution === 'minute' ? 86400000 : 86400000 * 90);
      for (const svg of box.querySelectorAll('svg')) {
        const pts = await api(`/api/v1/machines/${id}/sensors/${enc(svg.dataset.s)}/series?resolution=${resolution}&from=${sfrom}&to=${end}&limit=100000`);
        const c = states[svg.dataset.s];
        chart(svg, pts.map(p => ({ts: p.ts, v: p.mean, min: p.min, max: p.max})), {color: '#6a3fb5', band: true, from: pts.length ? pts[0].ts : sfrom, to: end,
              faults: faultSpans(svg.dataset.s), limits: c ? [c.min, c.max] : null});
      }
    }
    async function refresh() { try { await detail(await fleet()); } catch (e) { document.getElementById('summary').textContent = 'error: ' + e.message; } }
    refresh(); setInterval(refresh, 15000);
    </script></body></html>
    """#
}
