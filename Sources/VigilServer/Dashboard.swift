/// The operator dashboard served at `/`: one self-contained page (no CDN, no external files).
/// Fleet overview worst first with status colours and last-seen age; a machine view with health
/// over time, its contributing sensors, model lineage, and minute/day sensor charts with min–max
/// bands. It refreshes itself every 15 s and asks for a bearer token when the API wants one.
enum Dashboard {
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
    svg{width:100%;height:160px;background:#fafbfc;border:1px solid #eee;border-radius:4px}
    .chart h3{margin:12px 0 4px;font-size:13px} .muted{color:#6b7480} select{margin-left:8px}
    </style></head><body>
    <header><h1>Vigil</h1><span id="summary">loading…</span></header>
    <main>
    <section><h2>Fleet</h2><table id="fleet"><thead><tr><th>machine</th><th>health</th><th>status</th><th>last seen</th></tr></thead><tbody></tbody></table></section>
    <section id="detail"><h2 id="title">Select a machine</h2><div id="why" class="muted"></div>
    <div class="chart"><h3>Health (per minute)</h3><svg id="health" viewBox="0 0 600 160" preserveAspectRatio="none"></svg></div>
    <div id="sensors"></div>
    <h3>Model versions</h3><table id="models"><thead><tr><th>version</th><th>trigger</th><th>trained on</th><th>rows</th><th>gate</th></tr></thead><tbody></tbody></table>
    </section></main>
    <script>
    let token = localStorage.getItem('vigilToken'), selected = null, resolution = 'minute';
    async function api(path) {
      const r = await fetch(path, {headers: token ? {Authorization: 'Bearer ' + token} : {}});
      if (r.status === 401) { token = prompt('This Vigil needs an access token:'); if (token) localStorage.setItem('vigilToken', token); throw new Error('unauthorized'); }
      if (!r.ok) throw new Error(path + ': ' + r.status);
      return r.json();
    }
    const enc = s => encodeURIComponent(s);
    const age = ms => { const s = Math.round((Date.now() - ms) / 1000); return s < 120 ? s + ' s ago' : s < 7200 ? Math.round(s / 60) + ' min ago' : s < 172800 ? Math.round(s / 3600) + ' h ago' : Math.round(s / 86400) + ' d ago'; };
    const when = ms => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
    const badge = s => `<span class="st ${s || 'none'}">${s || 'commissioning'}</span>`;
    function chart(svg, pts, lo, hi, color, band) {
      if (!pts.length) { svg.innerHTML = '<text x="10" y="20" fill="#888">no data yet</text>'; return; }
      const t0 = pts[0].ts, t1 = Math.max(pts[pts.length - 1].ts, t0 + 1);
      if (lo === undefined) { lo = Math.min(...pts.map(p => band ? p.min : p.v)); hi = Math.max(...pts.map(p => band ? p.max : p.v)); if (hi === lo) { hi += 1; lo -= 1; } }
      const x = t => ((t - t0) / (t1 - t0) * 590 + 5).toFixed(1), y = v => (155 - (v - lo) / (hi - lo) * 150).toFixed(1);
      let out = '';
      if (band) out += `<polygon fill="${color}33" points="${pts.map(p => x(p.ts) + ',' + y(p.max)).join(' ')} ${pts.slice().reverse().map(p => x(p.ts) + ',' + y(p.min)).join(' ')}"/>`;
      out += `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.map(p => x(p.ts) + ',' + y(p.v)).join(' ')}"/>`;
      out += `<text x="6" y="12" font-size="10" fill="#666">${hi.toFixed(2)}</text><text x="6" y="156" font-size="10" fill="#666">${lo.toFixed(2)}</text>`;
      svg.innerHTML = out;
    }
    async function fleet() {
      const ms = await api('/api/v1/machines');
      ms.sort((a, b) => (a.health ?? 1e9) - (b.health ?? 1e9) || a.id.localeCompare(b.id));
      const alarms = ms.filter(m => m.status === 'alarm').length;
      document.getElementById('summary').textContent = `${ms.length} machines · ${alarms} in alarm · updated ${new Date().toLocaleTimeString()}`;
      document.querySelector('#fleet tbody').innerHTML = ms.map(m =>
        `<tr class="m${m.id === selected ? ' sel' : ''}" data-id="${m.id}"><td>${m.id}</td><td>${m.health == null ? '–' : m.health.toFixed(1)}</td><td>${badge(m.status)}</td><td>${age(m.lastSeen)}</td></tr>`).join('');
      document.querySelectorAll('tr.m').forEach(tr => tr.onclick = () => { selected = tr.dataset.id; refresh(); });
      if (!selected && ms.length) { selected = ms[0].id; }
      return ms;
    }
    async function detail(machines) {
      const m = machines.find(m => m.id === selected); if (!m) return;
      const id = enc(m.id), h = await api(`/api/v1/machines/${id}/health`);
      document.getElementById('title').innerHTML = `${m.id} ${badge(h.status)} <span class="muted">${h.health == null ? `commissioning ${h.commissioningRows ?? 0}/${h.commissioningNeeded ?? '?'} minutes` : 'health ' + h.health.toFixed(1) + ' · confidence ' + (h.confidence * 100).toFixed(0) + ' %'}</span>`;
      document.getElementById('why').textContent = h.contributors.length ? 'Driven by: ' + h.contributors.map(c => `${c.sensor} ${(c.share * 100).toFixed(0)} %`).join(', ') + (h.model ? ` · model v${h.model.version}` : '') : '';
      const hist = await api(`/api/v1/machines/${id}/health/history?from=${Date.now() - 86400000 * 3}`);
      chart(document.getElementById('health'), hist.map(p => ({ts: p.ts, v: p.health})), 0, 100, '#2b6cd4');
      const models = await api(`/api/v1/machines/${id}/models`);
      document.querySelector('#models tbody').innerHTML = models.slice().reverse().map(v =>
        `<tr><td>${v.version}${v.active ? ' ●' : ''}</td><td>${v.trigger}</td><td>${when(v.trainFrom)} – ${when(v.trainTo)}</td><td>${v.rowCount}</td><td title="${v.gateReason}">${v.gateDecision}</td></tr>`).join('');
      const box = document.getElementById('sensors');
      box.innerHTML = `<h3>Sensors <select id="res"><option value="minute">minute, last 24 h</option><option value="day">day, last 90 days</option></select></h3>` +
        m.sensors.map(s => `<div class="chart"><h3>${s}</h3><svg data-s="${s}" viewBox="0 0 600 160" preserveAspectRatio="none"></svg></div>`).join('');
      const sel = document.getElementById('res'); sel.value = resolution; sel.onchange = () => { resolution = sel.value; refresh(); };
      const from = Date.now() - (resolution === 'minute' ? 86400000 : 86400000 * 90);
      for (const svg of box.querySelectorAll('svg')) {
        const pts = await api(`/api/v1/machines/${id}/sensors/${enc(svg.dataset.s)}/series?resolution=${resolution}&from=${from}&limit=100000`);
        chart(svg, pts.map(p => ({ts: p.ts, v: p.mean, min: p.min, max: p.max})), undefined, undefined, '#6a3fb5', true);
      }
    }
    async function refresh() { try { await detail(await fleet()); } catch (e) { document.getElementById('summary').textContent = 'error: ' + e.message; } }
    refresh(); setInterval(refresh, 15000);
    </script></body></html>
    """#
}
