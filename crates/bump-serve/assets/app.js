/* streetbump review UI: plain ES2020, no framework, no external resources.
 * Every server string reaches the page through textContent, setAttribute or
 * createElement; never through innerHTML. */
'use strict';

(function () {
  // ---------------------------------------------------------------- constants

  const CLASSES = ['pothole', 'speed_hump', 'casting', 'rail_crossing', 'rough_road', 'unknown'];
  const CLASS_COLORS = {
    pothole: '#c62828',
    speed_hump: '#6a1b9a',
    casting: '#1565c0',
    rail_crossing: '#37474f',
    rough_road: '#b26a00',
    unknown: '#7a7a7a',
  };
  const FADED_STATUSES = new Set(['dismissed', 'fixed', 'probably_fixed']);
  const POLL_MS = 30000;
  const LIST_LIMIT = 2000;
  const AUDIT_LIMIT = 200;
  const TILE = 256;
  const MIN_ZOOM = 1;
  const MAX_ZOOM = 19;
  const MAX_FIT_ZOOM = 17;
  // Mean H3 hexagon edge length (= circumradius) in metres, by resolution.
  const H3_EDGE_M = [1107712.6, 418676.0, 158244.7, 59810.9, 22606.4, 8544.4, 3229.5, 1220.6,
    461.4, 174.4, 65.9, 24.9, 9.4, 3.56, 1.35, 0.51];
  const SVGNS = 'http://www.w3.org/2000/svg';

  // -------------------------------------------------------------------- state

  const state = {
    user: null,
    config: null,
    clusters: [],
    total: 0,
    jurisdictions: new Set(),
    selectedId: null,
    detail: null,
    renderedDetailId: null,
    pollTimer: null,
    lastPoll: 0,
    listSeq: 0,
    detailSeq: 0,
    coverageSeq: 0,
    fitted: false,
    busy: false,
  };
  let map = null;

  // ------------------------------------------------------------------ helpers

  const $ = (id) => document.getElementById(id);

  /** Creates an HTML element. Strings in children become text nodes. */
  function h(tag, props, children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    appendChildren(e, children);
    return e;
  }

  function appendChildren(e, children) {
    if (children == null) return;
    for (const c of [].concat(children)) {
      if (c == null || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
  }

  /** Creates an SVG element; `text` becomes its text content. */
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null) continue;
        e.setAttribute(k, String(v));
      }
    }
    if (text != null) e.textContent = String(text);
    return e;
  }

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  function fmtNum(v, digits = 2) {
    return isNum(v) ? v.toFixed(digits) : '—';
  }

  function fmtInt(v) {
    return isNum(v) ? String(Math.round(v)) : '—';
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function str(v, fallback = '—') {
    if (v == null || v === '') return fallback;
    if (typeof v === 'object') {
      try {
        return JSON.stringify(v);
      } catch (e) {
        return fallback;
      }
    }
    return String(v);
  }

  /** A token safe to use in a CSS class name. */
  function classToken(v) {
    const s = String(v == null ? 'unknown' : v);
    return /^[a-z0-9_]+$/.test(s) ? s : 'unknown';
  }

  function classColor(c) {
    return CLASS_COLORS[c] || CLASS_COLORS.unknown;
  }

  function effectiveStatus(c) {
    return (c && (c.effective_status || c.status)) || 'unknown';
  }

  /** "filed SR-000001", "posting", "not filed". */
  function filingText(f) {
    if (!f || !f.state) return 'not filed';
    return f.service_request_id ? `${f.state} ${f.service_request_id}` : String(f.state);
  }

  // ---------------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message, field, retryAfter) {
      super(message);
      this.status = status;
      this.field = field || null;
      this.retryAfter = retryAfter || null;
    }
  }

  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET' && method !== 'HEAD') {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body === undefined ? {} : body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, 'The server could not be reached.');
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === 'string' && data.error
        ? data.error
        : `HTTP ${res.status} ${res.statusText || ''}`.trim();
      const field = data && typeof data.field === 'string' ? data.field : null;
      const err = new ApiError(res.status, msg, field, res.headers.get('Retry-After'));
      if (res.status === 401 && path !== '/api/login') onSessionLost();
      throw err;
    }
    return data;
  }

  function errorText(e) {
    if (!(e instanceof ApiError)) return String((e && e.message) || e);
    let s = e.message;
    if (e.field) s += ` (field: ${e.field})`;
    if (e.status === 403 && !/forbid|not allowed|permission|role/i.test(s)) s = `Not allowed: ${s}`;
    return s;
  }

  // ---------------------------------------------------------------- slippy map

  /** Web Mercator: lat/lon to [0,1]² of the world square. */
  function projectUnit(lat, lon) {
    const x = (lon + 180) / 360;
    const s = Math.sin(clamp(lat, -85.05112878, 85.05112878) * Math.PI / 180);
    const y = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
    return [x, y];
  }

  function unprojectUnit(x, y) {
    const lon = x * 360 - 180;
    const n = Math.PI - 2 * Math.PI * y;
    const lat = (180 / Math.PI) * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n)));
    return [lat, lon];
  }

  class SlippyMap {
    constructor(root, onMarkerClick) {
      this.root = root;
      this.onMarkerClick = onMarkerClick;
      this.z = 2;
      this.cx = TILE * 2; // centre, world pixels at zoom z
      this.cy = TILE * 2;
      this.tileUrl = '';
      this.tiles = new Map();
      this.markers = []; // {id, el, mx, my, r}
      this.selectedId = null;
      this.cells = []; // {mx, my, lat, trips}
      this.cellRes = 11;
      this.maxTrips = 1;
      this.showCoverage = false;
      this.layoutKey = null;
      this.ox0 = 0;
      this.oy0 = 0;
      this.pendingFit = null;
      this.raf = 0;
      this.pointers = new Map();
      this.pinchDist = 0;
      this.wheelAcc = 0;
      this.lastWheel = 0;
      this.lastWheelZoom = 0;

      this.tileLayer = h('div', { class: 'map-tiles', 'aria-hidden': 'true' });
      this.covSvg = sv('svg', { class: 'map-coverage', 'aria-hidden': 'true', focusable: 'false' });
      this.covGroup = sv('g');
      this.covSvg.append(this.covGroup);
      this.markerLayer = h('div', { class: 'map-markers' });
      this.zoomInBtn = h('button', { type: 'button', class: 'map-btn', 'aria-label': 'Zoom in', title: 'Zoom in' }, '+');
      this.zoomOutBtn = h('button', { type: 'button', class: 'map-btn', 'aria-label': 'Zoom out', title: 'Zoom out' }, '−');
      this.fitBtn = h('button', { type: 'button', class: 'map-btn map-btn-text', 'aria-label': 'Fit map to the listed clusters', title: 'Fit to clusters' }, 'Fit');
      this.controls = h('div', { class: 'map-controls' }, [this.zoomInBtn, this.zoomOutBtn, this.fitBtn]);
      this.attrib = h('div', { class: 'map-attribution' });
      root.append(this.tileLayer, this.covSvg, this.markerLayer, this.controls, this.attrib);

      this.zoomInBtn.addEventListener('click', () => this.zoomCentre(1));
      this.zoomOutBtn.addEventListener('click', () => this.zoomCentre(-1));
      this.fitBtn.addEventListener('click', () => this.fitMarkers());
      this.bindPointer();
      this.bindWheel();
      this.bindKeys();
      if (typeof ResizeObserver === 'function') {
        new ResizeObserver(() => this.onResize()).observe(root);
      } else {
        window.addEventListener('resize', () => this.onResize());
      }
    }

    size() {
      return { w: this.root.clientWidth, h: this.root.clientHeight };
    }

    worldSize(z = this.z) {
      return TILE * Math.pow(2, z);
    }

    setTiles(url, attribution) {
      this.tileUrl = typeof url === 'string' ? url : '';
      for (const img of this.tiles.values()) img.remove();
      this.tiles.clear();
      this.attrib.replaceChildren();
      if (this.tileUrl) {
        this.attrib.textContent = attribution ? String(attribution) : 'Map tiles';
      } else {
        this.attrib.textContent = 'No base map configured';
      }
      this.render();
    }

    tileSrc(z, x, y) {
      return this.tileUrl
        .split('{s}').join('a')
        .split('{z}').join(String(z))
        .split('{x}').join(String(x))
        .split('{y}').join(String(y))
        .split('{r}').join('');
    }

    clampCentre() {
      const w = this.worldSize();
      this.cx = clamp(this.cx, 0, w);
      this.cy = clamp(this.cy, 0, w);
    }

    setView(lat, lon, z) {
      this.z = clamp(Math.round(z), MIN_ZOOM, MAX_ZOOM);
      const [x, y] = projectUnit(lat, lon);
      const w = this.worldSize();
      this.cx = x * w;
      this.cy = y * w;
      this.render();
    }

    centre() {
      const w = this.worldSize();
      return unprojectUnit(this.cx / w, this.cy / w);
    }

    /** points: [[lat, lon], ...] */
    fitPoints(points) {
      const pts = points.filter((p) => isNum(p[0]) && isNum(p[1]));
      if (!pts.length) return false;
      const { w, h: ht } = this.size();
      if (!w || !ht) {
        this.pendingFit = pts;
        return true;
      }
      this.pendingFit = null;
      let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      for (const [lat, lon] of pts) {
        const [x, y] = projectUnit(lat, lon);
        minX = Math.min(minX, x); maxX = Math.max(maxX, x);
        minY = Math.min(minY, y); maxY = Math.max(maxY, y);
      }
      const pad = 40;
      const availW = Math.max(40, w - 2 * pad);
      const availH = Math.max(40, ht - 2 * pad);
      let z = MAX_FIT_ZOOM;
      for (; z > MIN_ZOOM; z--) {
        const ws = this.worldSize(z);
        if ((maxX - minX) * ws <= availW && (maxY - minY) * ws <= availH) break;
      }
      if (pts.length === 1) z = Math.min(z, 16);
      this.z = z;
      const ws = this.worldSize(z);
      this.cx = ((minX + maxX) / 2) * ws;
      this.cy = ((minY + maxY) / 2) * ws;
      this.clampCentre();
      this.render();
      return true;
    }

    fitMarkers() {
      const pts = this.markers.map((m) => [m.lat, m.lon]);
      if (!this.fitPoints(pts) && this.cells.length) {
        this.fitPoints(this.cells.map((c) => [c.lat, c.lon]));
      }
    }

    /** Pans so that the point is visible (only when it is not). */
    ensureVisible(lat, lon) {
      if (!isNum(lat) || !isNum(lon)) return;
      const { w, h: ht } = this.size();
      const [x, y] = projectUnit(lat, lon);
      const ws = this.worldSize();
      const px = x * ws - (this.cx - w / 2);
      const py = y * ws - (this.cy - ht / 2);
      const m = 30;
      if (px < m || py < m || px > w - m || py > ht - m) {
        this.cx = x * ws;
        this.cy = y * ws;
        this.render();
      }
    }

    zoomAt(nz, px, py) {
      nz = clamp(nz, MIN_ZOOM, MAX_ZOOM);
      if (nz === this.z) return;
      const { w, h: ht } = this.size();
      const wx = this.cx - w / 2 + px;
      const wy = this.cy - ht / 2 + py;
      const f = Math.pow(2, nz - this.z);
      this.cx = wx * f - px + w / 2;
      this.cy = wy * f - py + ht / 2;
      this.z = nz;
      this.clampCentre();
      this.render();
    }

    zoomCentre(dz) {
      const { w, h: ht } = this.size();
      this.zoomAt(this.z + dz, w / 2, ht / 2);
    }

    panBy(dx, dy) {
      this.cx += dx;
      this.cy += dy;
      this.clampCentre();
      this.scheduleRender();
    }

    bindPointer() {
      const root = this.root;
      root.addEventListener('pointerdown', (e) => {
        if (e.pointerType === 'mouse' && e.button !== 0) return;
        if (e.target.closest('.map-controls, .marker, .map-attribution')) return;
        this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
        try { root.setPointerCapture(e.pointerId); } catch (err) { /* ignore */ }
        if (this.pointers.size === 2) this.pinchDist = this.pointerDistance();
        root.classList.add('dragging');
      });
      root.addEventListener('pointermove', (e) => {
        const prev = this.pointers.get(e.pointerId);
        if (!prev) return;
        e.preventDefault();
        if (this.pointers.size === 1) {
          this.panBy(prev.x - e.clientX, prev.y - e.clientY);
          this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
          return;
        }
        this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
        if (this.pointers.size === 2 && this.pinchDist > 0) {
          const d = this.pointerDistance();
          const ratio = d / this.pinchDist;
          if (ratio > 1.6 || ratio < 0.625) {
            const [a, b] = [...this.pointers.values()];
            const rect = root.getBoundingClientRect();
            this.zoomAt(this.z + (ratio > 1 ? 1 : -1), (a.x + b.x) / 2 - rect.left, (a.y + b.y) / 2 - rect.top);
            this.pinchDist = d;
          }
        }
      });
      const end = (e) => {
        if (!this.pointers.delete(e.pointerId)) return;
        if (this.pointers.size < 2) this.pinchDist = 0;
        if (this.pointers.size === 0) root.classList.remove('dragging');
      };
      root.addEventListener('pointerup', end);
      root.addEventListener('pointercancel', end);
      root.addEventListener('dblclick', (e) => {
        if (e.target.closest('.map-controls, .marker, .map-attribution')) return;
        const rect = root.getBoundingClientRect();
        this.zoomAt(this.z + (e.shiftKey ? -1 : 1), e.clientX - rect.left, e.clientY - rect.top);
      });
    }

    pointerDistance() {
      const [a, b] = [...this.pointers.values()];
      return a && b ? Math.hypot(a.x - b.x, a.y - b.y) : 0;
    }

    bindWheel() {
      this.root.addEventListener('wheel', (e) => {
        e.preventDefault();
        const now = performance.now();
        if (now - this.lastWheel > 400) this.wheelAcc = 0;
        this.lastWheel = now;
        const unit = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1;
        this.wheelAcc += e.deltaY * unit;
        if (Math.abs(this.wheelAcc) >= 50 && now - this.lastWheelZoom > 200) {
          const rect = this.root.getBoundingClientRect();
          this.zoomAt(this.z + (this.wheelAcc < 0 ? 1 : -1), e.clientX - rect.left, e.clientY - rect.top);
          this.wheelAcc = 0;
          this.lastWheelZoom = now;
        }
      }, { passive: false });
    }

    bindKeys() {
      this.root.addEventListener('keydown', (e) => {
        if (e.target !== this.root || e.altKey || e.ctrlKey || e.metaKey) return;
        const step = 100;
        switch (e.key) {
          case 'ArrowLeft': this.panBy(-step, 0); break;
          case 'ArrowRight': this.panBy(step, 0); break;
          case 'ArrowUp': this.panBy(0, -step); break;
          case 'ArrowDown': this.panBy(0, step); break;
          case '+': case '=': this.zoomCentre(1); break;
          case '-': case '_': this.zoomCentre(-1); break;
          default: return;
        }
        e.preventDefault();
      });
    }

    onResize() {
      if (this.pendingFit) {
        const { w, h: ht } = this.size();
        if (w && ht) {
          this.fitPoints(this.pendingFit);
          return;
        }
      }
      this.render();
    }

    setClusters(list) {
      this.markerLayer.replaceChildren();
      this.markers = [];
      const usable = list.filter((c) => isNum(c.lat) && isNum(c.lon));
      usable.sort((a, b) => (a.confidence || 0) - (b.confidence || 0));
      for (const c of usable) {
        const conf = isNum(c.confidence) ? clamp(c.confidence, 0, 1) : 0;
        const r = Math.round(5 + 9 * conf);
        const status = effectiveStatus(c);
        const cls = classToken(c.class);
        const label = `${str(c.class, 'unknown')}, ${status}, confidence ${fmtNum(c.confidence)}`;
        const el = h('button', {
          type: 'button',
          class: `marker cls-${cls}` + (FADED_STATUSES.has(status) ? ' faded' : ''),
          tabindex: '-1',
          title: label,
          'aria-label': `Open cluster: ${label}`,
        });
        el.dataset.clusterId = String(c.cluster_id);
        el.style.width = `${2 * r}px`;
        el.style.height = `${2 * r}px`;
        el.style.marginLeft = `${-r}px`;
        el.style.marginTop = `${-r}px`;
        el.style.backgroundColor = classColor(c.class);
        el.addEventListener('click', (ev) => {
          ev.stopPropagation();
          this.onMarkerClick(String(c.cluster_id));
        });
        const [mx, my] = projectUnit(c.lat, c.lon);
        this.markers.push({ id: String(c.cluster_id), el, mx, my, r, lat: c.lat, lon: c.lon });
        this.markerLayer.append(el);
      }
      this.setSelected(this.selectedId);
      this.layoutKey = null;
      this.render();
    }

    setSelected(id) {
      this.selectedId = id;
      for (const m of this.markers) {
        const sel = m.id === id;
        m.el.classList.toggle('selected', sel);
        if (sel) m.el.setAttribute('aria-current', 'true');
        else m.el.removeAttribute('aria-current');
      }
    }

    setCoverage(cells, resolution) {
      this.cells = [];
      this.maxTrips = 1;
      for (const c of cells || []) {
        if (!c || !isNum(c.lat) || !isNum(c.lon)) continue;
        const trips = isNum(c.trips) ? c.trips : 0;
        const [mx, my] = projectUnit(c.lat, c.lon);
        this.cells.push({ mx, my, lat: c.lat, lon: c.lon, trips });
        if (trips > this.maxTrips) this.maxTrips = trips;
      }
      this.cellRes = Number.isInteger(resolution) ? clamp(resolution, 0, 15) : 11;
      this.layoutKey = null;
      this.render();
    }

    setShowCoverage(on) {
      this.showCoverage = !!on;
      this.layoutKey = null;
      this.render();
    }

    scheduleRender() {
      if (this.raf) return;
      this.raf = requestAnimationFrame(() => {
        this.raf = 0;
        this.render();
      });
    }

    render() {
      const { w, h: ht } = this.size();
      if (!w || !ht) return;
      const ox = Math.round(this.cx - w / 2);
      const oy = Math.round(this.cy - ht / 2);
      this.renderTiles(ox, oy, w, ht);
      const key = `${this.z}`;
      if (this.layoutKey !== key) this.layout(ox, oy, key);
      const t = `translate(${this.ox0 - ox}px, ${this.oy0 - oy}px)`;
      this.markerLayer.style.transform = t;
      this.covSvg.setAttribute('width', String(w));
      this.covSvg.setAttribute('height', String(ht));
      this.covGroup.setAttribute('transform', `translate(${this.ox0 - ox} ${this.oy0 - oy})`);
      this.zoomInBtn.disabled = this.z >= MAX_ZOOM;
      this.zoomOutBtn.disabled = this.z <= MIN_ZOOM;
      this.root.dataset.zoom = String(this.z);
    }

    /** Positions markers and coverage relative to a local origin, once per
     *  zoom level (panning then only moves the layers). */
    layout(ox, oy, key) {
      this.layoutKey = key;
      this.ox0 = ox;
      this.oy0 = oy;
      const ws = this.worldSize();
      for (const m of this.markers) {
        const x = m.mx * ws - ox;
        const y = m.my * ws - oy;
        const far = Math.abs(x) > 4e6 || Math.abs(y) > 4e6;
        m.el.style.display = far ? 'none' : '';
        m.el.style.left = `${x}px`;
        m.el.style.top = `${y}px`;
      }
      this.covGroup.replaceChildren();
      if (!this.showCoverage || !this.cells.length) return;
      const edge = H3_EDGE_M[this.cellRes] || 25;
      const logMax = Math.log1p(this.maxTrips);
      const frag = document.createDocumentFragment();
      for (const c of this.cells) {
        const x = c.mx * ws - ox;
        const y = c.my * ws - oy;
        if (Math.abs(x) > 4e6 || Math.abs(y) > 4e6) continue;
        const mPerPx = 156543.03392 * Math.cos(c.lat * Math.PI / 180) / Math.pow(2, this.z);
        const r = Math.max(2, edge / mPerPx);
        const k = logMax > 0 ? Math.log1p(c.trips) / logMax : 1;
        frag.append(sv('circle', {
          cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1),
          class: 'cov-cell', 'fill-opacity': (0.15 + 0.55 * k).toFixed(3),
        }));
      }
      this.covGroup.append(frag);
    }

    renderTiles(ox, oy, w, ht) {
      if (!this.tileUrl) {
        if (this.tiles.size) {
          for (const img of this.tiles.values()) img.remove();
          this.tiles.clear();
        }
        return;
      }
      const z = this.z;
      const n = Math.pow(2, z);
      const need = new Set();
      for (let tx = Math.floor(ox / TILE); tx * TILE < ox + w; tx++) {
        if (tx < 0 || tx >= n) continue;
        for (let ty = Math.floor(oy / TILE); ty * TILE < oy + ht; ty++) {
          if (ty < 0 || ty >= n) continue;
          const key = `${z}/${tx}/${ty}`;
          need.add(key);
          let img = this.tiles.get(key);
          if (!img) {
            img = document.createElement('img');
            img.alt = '';
            img.draggable = false;
            img.decoding = 'async';
            img.width = TILE;
            img.height = TILE;
            img.onerror = () => { img.style.display = 'none'; };
            img.src = this.tileSrc(z, tx, ty);
            this.tileLayer.append(img);
            this.tiles.set(key, img);
          }
          img.style.transform = `translate(${tx * TILE - ox}px, ${ty * TILE - oy}px)`;
        }
      }
      for (const [key, img] of this.tiles) {
        if (!need.has(key)) {
          img.onerror = null;
          img.remove();
          this.tiles.delete(key);
        }
      }
    }
  }

  // ------------------------------------------------------------------- charts

  const CH = { w: 440, h: 220, ml: 54, mr: 14, mt: 22, mb: 46 };

  function niceStep(raw) {
    if (!(raw > 0) || !Number.isFinite(raw)) return 1;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
  }

  function niceTicks(min, max, target, integer) {
    if (!(max > min)) max = min + 1;
    let step = niceStep((max - min) / target);
    if (integer) step = Math.max(1, Math.ceil(step));
    const lo = Math.floor(min / step + 1e-9) * step;
    const hi = Math.ceil(max / step - 1e-9) * step;
    const ticks = [];
    for (let i = 0; i <= 1000; i++) {
      const v = lo + i * step;
      if (v > hi + step * 1e-6) break;
      ticks.push(+v.toFixed(10));
    }
    return { lo, hi, step, ticks };
  }

  function fmtTick(v, step) {
    const dec = clamp(-Math.floor(Math.log10(step) + 1e-9), 0, 6);
    return v.toFixed(dec);
  }

  function minMax(values) {
    let mn = Infinity, mx = -Infinity;
    for (const v of values) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    return [mn, mx];
  }

  function chartStart(svg, title) {
    svg.replaceChildren();
    svg.setAttribute('viewBox', `0 0 ${CH.w} ${CH.h}`);
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    svg.append(sv('title', null, title));
  }

  function chartEmpty(svg, title, message) {
    chartStart(svg, title);
    svg.append(sv('text', { x: CH.w / 2, y: CH.h / 2, 'text-anchor': 'middle', class: 'chart-empty' }, message));
  }

  /** Frame, grid and labelled axes. xTicks/yTicks: [{v, label}]. */
  function chartAxes(svg, o) {
    const x0 = CH.ml, x1 = CH.w - CH.mr, y0 = CH.h - CH.mb, y1 = CH.mt;
    const g = sv('g', { class: 'axis' });
    for (const t of o.yTicks) {
      const y = o.yScale(t.v);
      g.append(sv('line', { x1: x0, x2: x1, y1: y, y2: y, class: 'grid' }));
      g.append(sv('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end' }, t.label));
    }
    for (const t of o.xTicks) {
      const x = o.xScale(t.v);
      g.append(sv('line', { x1: x, x2: x, y1: y0, y2: y0 + 5, class: 'tick' }));
      g.append(sv('text', { x, y: y0 + 17, 'text-anchor': 'middle' }, t.label));
    }
    g.append(sv('line', { x1: x0, x2: x1, y1: y0, y2: y0, class: 'axis-line' }));
    g.append(sv('line', { x1: x0, x2: x0, y1: y0, y2: y1, class: 'axis-line' }));
    g.append(sv('text', { x: (x0 + x1) / 2, y: CH.h - 8, 'text-anchor': 'middle', class: 'axis-title' }, o.xLabel));
    g.append(sv('text', {
      x: 0, y: 0, transform: `translate(14 ${(y0 + y1) / 2}) rotate(-90)`,
      'text-anchor': 'middle', class: 'axis-title',
    }, o.yLabel));
    svg.append(g);
  }

  function chartLegend(svg, items) {
    let x = CH.w - CH.mr;
    const g = sv('g', { class: 'chart-legend' });
    for (const it of items.slice().reverse()) {
      const tw = it.label.length * 6.2;
      x -= tw;
      g.append(sv('text', { x, y: 12 }, it.label));
      x -= 14;
      g.append(sv('rect', { x, y: 3, width: 10, height: 10, class: it.className }));
      x -= 12;
    }
    svg.append(g);
  }

  function drawHits(svg, hitsPerDay, passesPerDay) {
    const title = 'Hits per day';
    const hits = new Map();
    const passes = new Map();
    for (const d of hitsPerDay || []) {
      if (d && d.day) hits.set(String(d.day).slice(0, 10), isNum(d.hits) ? d.hits : 0);
    }
    for (const d of passesPerDay || []) {
      if (d && d.day) passes.set(String(d.day).slice(0, 10), isNum(d.passes) ? d.passes : 0);
    }
    let days = [...new Set([...hits.keys(), ...passes.keys()])].sort();
    if (!days.length) {
      chartEmpty(svg, title, 'No hits recorded.');
      return;
    }
    const start = Date.parse(`${days[0]}T00:00:00Z`);
    const end = Date.parse(`${days[days.length - 1]}T00:00:00Z`);
    if (Number.isFinite(start) && Number.isFinite(end) && (end - start) / 86400000 <= 400) {
      days = [];
      for (let t = start; t <= end; t += 86400000) days.push(new Date(t).toISOString().slice(0, 10));
    }
    let maxY = 1;
    for (const d of days) maxY = Math.max(maxY, hits.get(d) || 0, passes.get(d) || 0);
    const yt = niceTicks(0, maxY, 4, true);
    const x0 = CH.ml, x1 = CH.w - CH.mr, y0 = CH.h - CH.mb, y1 = CH.mt;
    const yScale = (v) => y0 - (v / yt.hi) * (y0 - y1);
    const band = (x1 - x0) / days.length;
    const xScale = (i) => x0 + (i + 0.5) * band;
    const every = Math.max(1, Math.ceil(days.length / 6));
    const xTicks = [];
    for (let i = 0; i < days.length; i += every) xTicks.push({ v: i, label: days[i].slice(5) });
    const years = [...new Set(days.map((d) => d.slice(0, 4)))];
    const yearText = years.length > 1 ? `${years[0]}–${years[years.length - 1]}` : years[0];

    chartStart(svg, title);
    chartAxes(svg, {
      xScale, yScale,
      xTicks,
      yTicks: yt.ticks.map((v) => ({ v, label: fmtTick(v, yt.step) })),
      xLabel: `day (UTC, month-day, ${yearText})`,
      yLabel: 'count per day',
    });
    const g = sv('g');
    const bw = Math.max(1, band * 0.8);
    days.forEach((d, i) => {
      const p = passes.get(d) || 0;
      const k = hits.get(d) || 0;
      const x = xScale(i) - bw / 2;
      const tip = `${d}: ${k} hit${k === 1 ? '' : 's'}, ${p} pass${p === 1 ? '' : 'es'}`;
      if (p > 0) {
        const r = sv('rect', { x: x.toFixed(2), y: yScale(p).toFixed(2), width: bw.toFixed(2), height: (y0 - yScale(p)).toFixed(2), class: 'bar-passes' });
        r.append(sv('title', null, tip));
        g.append(r);
      }
      if (k > 0) {
        const inner = bw * 0.6;
        const r = sv('rect', { x: (xScale(i) - inner / 2).toFixed(2), y: yScale(k).toFixed(2), width: inner.toFixed(2), height: (y0 - yScale(k)).toFixed(2), class: 'bar-hits' });
        r.append(sv('title', null, tip));
        g.append(r);
      }
    });
    svg.append(g);
    chartLegend(svg, [
      { label: 'hits', className: 'bar-hits' },
      { label: 'passes', className: 'bar-passes' },
    ]);
  }

  function drawMagnitudes(svg, magnitudes, median, p90) {
    const title = 'Histogram of peak magnitudes (m/s²)';
    const vals = (magnitudes || []).filter(isNum);
    if (!vals.length) {
      chartEmpty(svg, title, 'No magnitudes recorded.');
      return;
    }
    const [mn, mx] = minMax(vals);
    const range = mx - mn > 0 ? mx - mn : Math.max(1, Math.abs(mx) * 0.2);
    const binW = niceStep(range / 12);
    const lo = Math.floor(mn / binW + 1e-9) * binW;
    const nb = Math.max(1, Math.floor((mx - lo) / binW + 1e-9) + 1);
    const hi = lo + nb * binW;
    const counts = new Array(nb).fill(0);
    for (const v of vals) counts[clamp(Math.floor((v - lo) / binW + 1e-9), 0, nb - 1)]++;
    const [, maxC] = minMax(counts);
    const yt = niceTicks(0, Math.max(1, maxC), 4, true);
    const x0 = CH.ml, x1 = CH.w - CH.mr, y0 = CH.h - CH.mb, y1 = CH.mt;
    const xScale = (v) => x0 + ((v - lo) / (hi - lo)) * (x1 - x0);
    const yScale = (v) => y0 - (v / yt.hi) * (y0 - y1);
    const xt = niceTicks(lo, hi, 6, false);
    const xTicks = xt.ticks.filter((v) => v >= lo - 1e-9 && v <= hi + 1e-9).map((v) => ({ v, label: fmtTick(v, xt.step) }));

    chartStart(svg, title);
    chartAxes(svg, {
      xScale, yScale, xTicks,
      yTicks: yt.ticks.map((v) => ({ v, label: fmtTick(v, yt.step) })),
      xLabel: 'peak vertical magnitude (m/s²)',
      yLabel: 'hits',
    });
    const g = sv('g');
    counts.forEach((c, i) => {
      if (!c) return;
      const a = lo + i * binW;
      const b = a + binW;
      const r = sv('rect', {
        x: (xScale(a) + 0.5).toFixed(2), y: yScale(c).toFixed(2),
        width: Math.max(1, xScale(b) - xScale(a) - 1).toFixed(2), height: (y0 - yScale(c)).toFixed(2),
        class: 'bar-mag',
      });
      r.append(sv('title', null, `${fmtTick(a, binW / 10)}–${fmtTick(b, binW / 10)} m/s²: ${c} hit${c === 1 ? '' : 's'}`));
      g.append(r);
    });
    svg.append(g);
    const marks = [];
    if (isNum(median)) marks.push({ v: median, label: 'median', cls: 'mark-median' });
    if (isNum(p90)) marks.push({ v: p90, label: 'p90', cls: 'mark-p90' });
    for (const m of marks) {
      if (m.v < lo || m.v > hi) continue;
      const x = xScale(m.v);
      svg.append(sv('line', { x1: x, x2: x, y1: y0, y2: y1, class: `mark ${m.cls}` }));
      const left = m.cls === 'mark-median';
      svg.append(sv('text', {
        x: left ? x - 3 : x + 3, y: y1 - 5, 'text-anchor': left ? 'end' : 'start', class: 'mark-label',
      }, `${m.label} ${m.v.toFixed(1)}`));
    }
  }

  function drawTrace(svg, trace) {
    const title = 'Example vertical acceleration trace (m/s² against s)';
    const caption = $('trace-caption');
    caption.textContent = '';
    const values = trace && Array.isArray(trace.values_mps2) ? trace.values_mps2 : [];
    const rate = trace && isNum(trace.sample_rate_hz) && trace.sample_rate_hz > 0 ? trace.sample_rate_hz : null;
    if (!values.length || !rate) {
      chartEmpty(svg, title, 'No example trace.');
      return;
    }
    const n = values.length;
    const tmax = Math.max((n - 1) / rate, 1 / rate);
    const finite = values.filter(isNum);
    if (!finite.length) {
      chartEmpty(svg, title, 'No example trace.');
      return;
    }
    let [mn, mx] = minMax(finite);
    mn = Math.min(mn, 0);
    mx = Math.max(mx, 0);
    const yt = niceTicks(mn, mx, 5, false);
    const xt = niceTicks(0, tmax, 6, false);
    const x0 = CH.ml, x1 = CH.w - CH.mr, y0 = CH.h - CH.mb, y1 = CH.mt;
    const xScale = (t) => x0 + (t / tmax) * (x1 - x0);
    const yScale = (v) => y0 - ((v - yt.lo) / (yt.hi - yt.lo)) * (y0 - y1);

    chartStart(svg, title);
    chartAxes(svg, {
      xScale, yScale,
      xTicks: xt.ticks.filter((v) => v <= tmax + 1e-9).map((v) => ({ v, label: fmtTick(v, xt.step) })),
      yTicks: yt.ticks.map((v) => ({ v, label: fmtTick(v, yt.step) })),
      xLabel: 'time since trace start (s)',
      yLabel: 'vertical accel. (m/s²)',
    });
    svg.append(sv('line', { x1: x0, x2: x1, y1: yScale(0), y2: yScale(0), class: 'zero-line' }));
    const stride = Math.max(1, Math.floor(n / 4000));
    let d = '';
    let pen = false;
    for (let i = 0; i < n; i += stride) {
      const v = values[i];
      if (!isNum(v)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${xScale(i / rate).toFixed(1)} ${yScale(v).toFixed(1)}`;
      pen = true;
    }
    svg.append(sv('path', { d, class: 'trace-line' }));
    if (isNum(trace.peak_offset_s) && trace.peak_offset_s >= 0 && trace.peak_offset_s <= tmax) {
      const x = xScale(trace.peak_offset_s);
      svg.append(sv('line', { x1: x, x2: x, y1: y0, y2: y1, class: 'mark mark-p90' }));
      svg.append(sv('text', { x: x + 3, y: y1 - 5, class: 'mark-label' }, `peak at ${trace.peak_offset_s.toFixed(2)} s`));
    }
    caption.textContent = `Trace starts ${fmtTime(trace.t0)}; ${n} samples at ${rate} Hz.`;
  }

  // -------------------------------------------------------------- sign in/out

  function showLogin(message) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    $('whoami').hidden = true;
    $('logout').hidden = true;
    $('audit-link').hidden = true;
    $('login-error').textContent = message || '';
    $('login-submit').disabled = false;
    $('login-username').focus();
  }

  function onSessionLost() {
    const wasSignedIn = !!state.user;
    stopApp();
    showLogin(wasSignedIn ? 'Your session has ended. Please sign in again.' : '');
  }

  function stopApp() {
    state.user = null;
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.pollTimer = null;
    state.clusters = [];
    state.selectedId = null;
    state.detail = null;
    state.renderedDetailId = null;
    state.fitted = false;
    state.listSeq++;
    state.detailSeq++;
    state.coverageSeq++;
    $('cluster-list').replaceChildren();
    $('audit-entries').replaceChildren();
    $('audit').hidden = true;
    hideDetail();
    if (map) map.setClusters([]);
  }

  async function onLoginSubmit(e) {
    e.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    const err = $('login-error');
    if (!username || !password) {
      err.textContent = 'Enter your username and password.';
      return;
    }
    err.textContent = '';
    $('login-submit').disabled = true;
    try {
      const me = await api('POST', '/api/login', { username, password });
      $('login-password').value = '';
      await startApp(me || { username, role: 'reviewer' });
    } catch (ex) {
      if (ex.status === 401) {
        err.textContent = 'Wrong username or password.';
      } else if (ex.status === 429) {
        const wait = ex.retryAfter ? ` Try again in ${ex.retryAfter} s.` : ' Try again later.';
        err.textContent = `Too many failed attempts.${wait}`;
      } else {
        err.textContent = errorText(ex);
      }
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function onLogout() {
    try {
      await api('POST', '/api/logout', {});
    } catch (e) {
      /* signed out either way */
    }
    stopApp();
    showLogin('');
    $('login-password').value = '';
  }

  function isAdmin() {
    return !!state.user && state.user.role === 'admin';
  }

  async function startApp(me) {
    state.user = { username: String(me.username || ''), role: String(me.role || '') };
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    const who = $('whoami');
    who.textContent = `${state.user.username} (${state.user.role})`;
    who.hidden = false;
    $('logout').hidden = false;
    $('audit-link').hidden = !isAdmin();
    $('audit').hidden = !isAdmin();
    $('login-error').textContent = '';

    if (!map) map = new SlippyMap($('map'), (id) => openCluster(id, { reveal: true }));
    try {
      state.config = await api('GET', '/api/config');
    } catch (e) {
      if (e.status === 401) return;
      state.config = null;
    }
    const cfg = state.config || {};
    map.setTiles(cfg.tiles_url || '', cfg.tiles_attribution || '');

    await loadClusters({ fit: true });
    if ($('toggle-coverage').checked) loadCoverage();
    if (isAdmin()) loadAudit();
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.lastPoll = Date.now();
    state.pollTimer = setInterval(poll, POLL_MS);
  }

  function poll() {
    if (!state.user || document.hidden) return;
    state.lastPoll = Date.now();
    loadClusters();
    if (state.selectedId && !state.busy) refreshDetail();
    if (isAdmin()) loadAudit();
  }

  // ------------------------------------------------------------------ filters

  /** URLSearchParams for the filters, or null when they are invalid. */
  function filterParams(withLimit) {
    const p = new URLSearchParams();
    const errEl = $('filters-error');
    errEl.textContent = '';
    const cls = $('filter-class').value;
    const status = $('filter-status').value;
    const jur = $('filter-jurisdiction').value;
    const minRaw = $('filter-min-confidence').value.trim();
    if (cls) p.set('class', cls);
    if (status) p.set('status', status);
    if (minRaw !== '') {
      const v = Number(minRaw);
      if (!Number.isFinite(v) || v < 0 || v > 1) {
        errEl.textContent = 'Minimum confidence must be a number from 0 to 1.';
        return null;
      }
      p.set('min_confidence', String(v));
    }
    if (jur) p.set('jurisdiction', jur);
    const dates = dateParams();
    if (!dates) return null;
    for (const [k, v] of dates) p.set(k, v);
    if (withLimit) p.set('limit', String(LIST_LIMIT));
    return p;
  }

  /** since/until as explicit UTC date-times: since = start of its day,
   *  until = end of its day (inclusive). */
  function dateParams() {
    const since = $('filter-since').value;
    const until = $('filter-until').value;
    const re = /^\d{4}-\d{2}-\d{2}$/;
    const out = [];
    if (since) {
      if (!re.test(since)) { $('filters-error').textContent = 'The "from" date is not a date.'; return null; }
      out.push(['since', `${since}T00:00:00Z`]);
    }
    if (until) {
      if (!re.test(until)) { $('filters-error').textContent = 'The "until" date is not a date.'; return null; }
      out.push(['until', `${until}T23:59:59Z`]);
    }
    if (since && until && since > until) {
      $('filters-error').textContent = 'The "from" date is after the "until" date.';
      return null;
    }
    return out;
  }

  function updateJurisdictions(clusters) {
    let changed = false;
    for (const c of clusters) {
      if (c.jurisdiction_id != null && c.jurisdiction_id !== '' && !state.jurisdictions.has(String(c.jurisdiction_id))) {
        state.jurisdictions.add(String(c.jurisdiction_id));
        changed = true;
      }
    }
    if (!changed) return;
    const sel = $('filter-jurisdiction');
    const current = sel.value;
    const opts = [h('option', { value: '' }, 'All')];
    for (const j of [...state.jurisdictions].sort()) opts.push(h('option', { value: j }, j));
    sel.replaceChildren(...opts);
    sel.value = current;
  }

  function onFiltersSubmit(e) {
    e.preventDefault();
    if (!filterParams(true)) return;
    loadClusters({ fit: true });
    if ($('toggle-coverage').checked) loadCoverage();
  }

  function onFiltersReset() {
    $('filter-class').value = '';
    $('filter-status').value = '';
    $('filter-min-confidence').value = '';
    $('filter-jurisdiction').value = '';
    $('filter-since').value = '';
    $('filter-until').value = '';
    $('filters-error').textContent = '';
    loadClusters({ fit: true });
    if ($('toggle-coverage').checked) loadCoverage();
  }

  // --------------------------------------------------------------------- list

  async function loadClusters(opts = {}) {
    const params = filterParams(true);
    if (!params || !state.user) return;
    const seq = ++state.listSeq;
    try {
      const data = await api('GET', `/api/clusters?${params}`);
      if (seq !== state.listSeq) return;
      const list = data && Array.isArray(data.clusters) ? data.clusters : [];
      state.clusters = list;
      state.total = data && isNum(data.total) ? data.total : list.length;
      $('list-error').textContent = '';
      updateJurisdictions(list);
      renderList();
      map.setClusters(list);
      map.setSelected(state.selectedId);
      if ((opts.fit || !state.fitted) && list.length) {
        map.fitMarkers();
        state.fitted = true;
      }
    } catch (e) {
      if (seq !== state.listSeq || e.status === 401) return;
      $('list-error').textContent = `Could not load clusters: ${errorText(e)}`;
    }
  }

  function renderList() {
    const tbody = $('cluster-list');
    // Keep keyboard focus on the same cluster across re-renders (polling).
    const active = document.activeElement;
    const focusedRow = active && tbody.contains(active) ? active.closest('.cluster-row') : null;
    const focusedId = focusedRow ? focusedRow.dataset.clusterId : null;
    const rows = [];
    for (const c of state.clusters) rows.push(clusterRow(c));
    if (!rows.length) {
      rows.push(h('tr', { class: 'empty-row' }, h('td', { colspan: '6' }, 'No clusters match these filters.')));
    }
    tbody.replaceChildren(...rows);
    if (focusedId != null) {
      const again = rows.find((r) => r.dataset && r.dataset.clusterId === focusedId);
      const btn = again && again.querySelector('.row-open');
      if (btn) btn.focus({ preventScroll: true });
    }
    const n = state.clusters.length;
    $('list-count').textContent = n < state.total ? `${n} shown of ${state.total}` : `${n}`;
  }

  function clusterRow(c) {
    const id = String(c.cluster_id);
    const status = effectiveStatus(c);
    const cls = classToken(c.class);
    const sel = id === state.selectedId;
    const openBtn = h('button', {
      type: 'button', class: 'row-open',
      title: `Cluster ${id}`,
      'aria-label': `Open cluster ${id}: ${str(c.class, 'unknown')}, ${status}`,
    }, [h('span', { class: `dot cls-${cls}`, 'aria-hidden': 'true' }), str(c.class, 'unknown')]);
    const statusCell = h('td', { class: `status st-${classToken(status)}` }, status);
    if (c.status && c.status !== status) statusCell.title = `pipeline: ${c.status}`;
    const filing = c.filing || null;
    const filingCell = h('td', { class: `filing fs-${classToken(filing && filing.state ? filing.state : 'none')}` }, filingText(filing));
    if (filing && filing.last_error) filingCell.title = String(filing.last_error);
    const jur = c.jurisdiction_id == null || c.jurisdiction_id === '' ? '—' : String(c.jurisdiction_id);
    const tr = h('tr', {
      class: 'cluster-row' + (sel ? ' selected' : '') + (FADED_STATUSES.has(status) ? ' faded' : ''),
      'aria-current': sel ? 'true' : null,
    }, [
      h('td', { class: 'cls' }, openBtn),
      statusCell,
      h('td', { class: 'num' }, fmtNum(c.confidence)),
      h('td', { class: 'num' }, `${fmtInt(c.trips)} / ${fmtInt(c.passes)}`),
      h('td', { class: 'jur', title: jur }, jur),
      filingCell,
    ]);
    tr.dataset.clusterId = id;
    tr.addEventListener('click', (e) => {
      if (e.target.closest('button') && e.target.closest('button') !== openBtn) return;
      openCluster(id, { pan: true, reveal: true, focus: e.detail === 0 });
    });
    return tr;
  }

  function markSelection() {
    for (const tr of $('cluster-list').querySelectorAll('.cluster-row')) {
      const sel = tr.dataset.clusterId === state.selectedId;
      tr.classList.toggle('selected', sel);
      if (sel) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
    }
    if (map) map.setSelected(state.selectedId);
  }

  // ------------------------------------------------------------------- detail

  function showDetail() {
    $('cluster-detail').hidden = false;
    $('workspace').classList.add('has-detail');
  }

  function hideDetail() {
    $('cluster-detail').hidden = true;
    $('workspace').classList.remove('has-detail');
    if (map) requestAnimationFrame(() => map.render());
  }

  function closeDetail() {
    const id = state.selectedId;
    state.selectedId = null;
    state.detail = null;
    state.renderedDetailId = null;
    state.detailSeq++;
    hideDetail();
    markSelection();
    if (id) {
      const row = [...$('cluster-list').querySelectorAll('.cluster-row')].find((r) => r.dataset.clusterId === id);
      const btn = row && row.querySelector('.row-open');
      if (btn) btn.focus();
    }
  }

  async function openCluster(id, opts = {}) {
    if (state.selectedId !== id) {
      $('action-result').textContent = '';
      $('action-result').className = '';
      $('action-note').value = '';
    }
    state.selectedId = id;
    markSelection();
    showDetail();
    if (map) requestAnimationFrame(() => map.render());
    if (state.renderedDetailId !== id) {
      $('detail-body').hidden = true;
      $('cluster-detail').scrollTop = 0;
      $('detail-heading').textContent = `Cluster ${id}`;
    }
    $('detail-loading').textContent = 'Loading…';
    $('detail-error').textContent = '';
    if (opts.focus) $('detail-heading').focus({ preventScroll: true });
    if (opts.reveal && window.matchMedia('(max-width: 1180px)').matches) {
      $('cluster-detail').scrollIntoView({ block: 'start' });
    }
    const seq = ++state.detailSeq;
    try {
      const d = await api('GET', `/api/clusters/${encodeURIComponent(id)}`);
      if (seq !== state.detailSeq) return;
      renderDetail(d);
      if (opts.pan && map) map.ensureVisible(d.lat, d.lon);
    } catch (e) {
      if (seq !== state.detailSeq || e.status === 401) return;
      $('detail-loading').textContent = '';
      $('detail-error').textContent = e.status === 404
        ? 'This cluster no longer exists (it may have been merged with another one). Refresh the list.'
        : `Could not load the cluster: ${errorText(e)}`;
    }
  }

  /** Re-reads the open cluster without moving focus or clearing inputs. */
  async function refreshDetail() {
    const id = state.selectedId;
    if (!id) return;
    const seq = ++state.detailSeq;
    try {
      const d = await api('GET', `/api/clusters/${encodeURIComponent(id)}`);
      if (seq !== state.detailSeq || state.selectedId !== id) return;
      renderDetail(d);
    } catch (e) {
      if (seq !== state.detailSeq || e.status === 401) return;
      if (e.status === 404) $('detail-error').textContent = 'This cluster no longer exists.';
    }
  }

  function renderDetail(d) {
    state.detail = d;
    const id = String(d.cluster_id);
    const firstRender = state.renderedDetailId !== id;
    state.renderedDetailId = id;
    $('detail-loading').textContent = '';
    $('detail-error').textContent = '';
    $('detail-body').hidden = false;
    $('detail-heading').textContent = `Cluster ${id}`;

    const cls = str(d.class, 'unknown');
    const clsEl = $('detail-class');
    clsEl.textContent = cls;
    clsEl.className = `badge cls-badge cls-${classToken(d.class)}`;
    const clsExtra = [];
    if (isNum(d.class_probability)) clsExtra.push(`p = ${d.class_probability.toFixed(2)}`);
    if (d.class_source) clsExtra.push(`source: ${d.class_source}`);
    $('detail-class-extra').textContent = clsExtra.join(' · ');

    const status = effectiveStatus(d);
    const stEl = $('detail-status');
    stEl.textContent = status;
    stEl.className = `badge st-${classToken(status)}`;
    $('detail-status-extra').textContent = d.status && d.status !== status ? `pipeline: ${d.status}` : '';

    const f = d.filing || null;
    const fEl = $('detail-filing');
    fEl.textContent = filingText(f);
    fEl.className = `badge fs-${classToken(f && f.state ? f.state : 'none')}`;
    const fExtra = [];
    if (f) {
      if (f.service_code) fExtra.push(`service ${f.service_code}`);
      if (f.jurisdiction_id) fExtra.push(`to ${f.jurisdiction_id}`);
      if (f.closed_at) fExtra.push(`closed ${fmtTime(f.closed_at)}`);
      if (f.last_error) fExtra.push(`last error: ${f.last_error}`);
    } else if (status === 'confirmed') {
      fExtra.push('confirmed, not filed yet: the filer tries at once and then each round; it never files a class without a service code in its municipality, nor outside every municipality');
    }
    $('detail-filing-extra').textContent = fExtra.join(' · ');

    if (firstRender) {
      const rc = $('reclassify-class');
      rc.value = CLASSES.includes(d.class) ? d.class : 'unknown';
      $('known-kind').value = '';
    }

    renderFacts(d);
    drawHits($('chart-hits'), d.hits_per_day, d.passes_per_day);
    drawMagnitudes($('chart-magnitudes'), d.magnitudes_mps2, d.magnitude_median_mps2, d.magnitude_p90_mps2);
    drawTrace($('chart-trace'), d.example_trace);
    renderFilings(d.filings);
    renderReviews(d.reviews);
  }

  function renderFacts(d) {
    const rows = [];
    const add = (term, value) => rows.push(h('dt', null, term), h('dd', null, value));
    add('Cluster id', str(d.cluster_id));
    add('Position', isNum(d.lat) && isNum(d.lon) ? `${d.lat.toFixed(6)}, ${d.lon.toFixed(6)}` : '—');
    add('Confidence', fmtNum(d.confidence));
    add('Hits', fmtInt(d.hits));
    add('Trips / devices', `${fmtInt(d.trips)} / ${fmtInt(d.devices)}`);
    if (isNum(d.support_trips) && d.support_trips > 0) {
      // Trips that felt it only under the detection threshold.
      add('Of the trips, felt weakly', fmtInt(d.support_trips));
    }
    add('Passes', fmtInt(d.passes));
    add('Hit rate', isNum(d.hit_rate) ? `${(d.hit_rate * 100).toFixed(0)} % of passes` : '—');
    add('Peak magnitude', `median ${fmtNum(d.magnitude_median_mps2, 1)} m/s², p90 ${fmtNum(d.magnitude_p90_mps2, 1)} m/s²`);
    add('Heading', isNum(d.heading_deg) ? `${d.heading_deg.toFixed(0)}°` : 'any direction');
    add('First seen', fmtTime(d.first_seen));
    add('Last seen', fmtTime(d.last_seen));
    add('Jurisdiction', str(d.jurisdiction_id, 'none (outside every configured jurisdiction)'));
    if (d.known) {
      const k = d.known;
      add('Known obstacle', `${str(k.kind)} ${str(k.asset_id, '')}`.trim() + (isNum(k.distance_m) ? `, ${k.distance_m.toFixed(1)} m away` : ''));
    } else {
      add('Known obstacle', 'none nearby');
    }
    if (d.review) {
      const r = d.review;
      add('Latest review', `${reviewActionText(r)} by ${str(r.actor)}, ${fmtTime(r.at)}`);
    }
    $('detail-facts').replaceChildren(...rows);
  }

  function reviewActionText(r) {
    return r.value ? `${str(r.action)} → ${r.value}` : str(r.action);
  }

  function renderReviews(reviews) {
    const list = Array.isArray(reviews) ? reviews.slice() : [];
    const ol = $('detail-reviews');
    if (!list.length) {
      ol.replaceChildren(h('li', { class: 'muted' }, 'No reviews yet.'));
      return;
    }
    ol.replaceChildren(...list.map((r) => h('li', null, [
      h('time', { datetime: str(r.at, '') }, fmtTime(r.at)),
      ' ',
      h('strong', null, str(r.actor)),
      ': ',
      h('span', { class: 'review-action' }, reviewActionText(r)),
      r.note ? h('span', { class: 'review-note' }, ` “${r.note}”`) : null,
    ])));
  }

  function renderFilings(filings) {
    const list = Array.isArray(filings) ? filings : [];
    const ol = $('detail-filings');
    if (!list.length) {
      ol.replaceChildren(h('li', { class: 'muted' }, 'Never filed.'));
      return;
    }
    ol.replaceChildren(...list.map((f) => {
      const parts = [h('strong', null, filingText(f))];
      if (f.service_code) parts.push(`, service ${f.service_code}`);
      if (f.jurisdiction_id) parts.push(`, to ${f.jurisdiction_id}`);
      if (f.closed_at) parts.push(`, closed ${fmtTime(f.closed_at)}`);
      if (f.marker) parts.push(h('span', { class: 'muted small' }, ` (marker ${f.marker})`));
      if (f.last_error) parts.push(h('div', { class: 'error small' }, `Last error: ${f.last_error}`));
      return h('li', null, parts);
    }));
  }

  // ------------------------------------------------------------------ actions

  const ACTION_BUTTONS = ['action-confirm', 'action-dismiss', 'action-reclassify', 'action-known', 'action-fixed'];

  function setBusy(b) {
    state.busy = b;
    for (const id of ACTION_BUTTONS) $(id).disabled = b;
    $('detail-actions').setAttribute('aria-busy', b ? 'true' : 'false');
  }

  async function doAction(action) {
    const id = state.selectedId;
    if (!id || state.busy) return;
    const body = { action };
    if (action === 'reclassify') body.class = $('reclassify-class').value;
    if (action === 'known' && $('known-kind').value) body.class = $('known-kind').value;
    const note = $('action-note').value.trim();
    if (note) body.note = note;
    const result = $('action-result');
    result.className = 'pending';
    result.textContent = 'Working…';
    setBusy(true);
    const seq = ++state.detailSeq;
    try {
      const d = await api('POST', `/api/clusters/${encodeURIComponent(id)}/actions`, body);
      result.className = 'ok';
      result.textContent = 'Done.';
      $('action-note').value = '';
      if (state.selectedId === id && seq === state.detailSeq) {
        if (d && d.cluster_id != null) renderDetail(d);
        else refreshDetail();
      }
    } catch (e) {
      if (e.status === 401) return;
      result.className = 'error';
      result.textContent = errorText(e);
      if (state.selectedId === id) refreshDetail();
    } finally {
      setBusy(false);
    }
    loadClusters();
    if (isAdmin()) loadAudit();
  }

  // ----------------------------------------------------------------- coverage

  async function loadCoverage() {
    const dates = dateParams();
    if (!dates) return;
    const p = new URLSearchParams(dates);
    const seq = ++state.coverageSeq;
    const statusEl = $('coverage-status');
    statusEl.textContent = 'Loading coverage…';
    try {
      const data = await api('GET', `/api/coverage${p.toString() ? `?${p}` : ''}`);
      if (seq !== state.coverageSeq) return;
      const cells = data && Array.isArray(data.cells) ? data.cells : [];
      map.setCoverage(cells, data && data.resolution);
      const maxT = cells.reduce((m, c) => (isNum(c.trips) && c.trips > m ? c.trips : m), 0);
      $('coverage-range').textContent = cells.length
        ? `1 to ${maxT} trip${maxT === 1 ? '' : 's'} per cell, ${cells.length} cells`
        : 'no trips in this period';
      statusEl.textContent = '';
      if (!state.clusters.length && cells.length && !state.fitted) {
        map.fitPoints(cells.map((c) => [c.lat, c.lon]));
      }
    } catch (e) {
      if (seq !== state.coverageSeq || e.status === 401) return;
      statusEl.textContent = `Could not load coverage: ${errorText(e)}`;
    }
  }

  function onCoverageToggle() {
    const on = $('toggle-coverage').checked;
    $('coverage-legend').hidden = !on;
    map.setShowCoverage(on);
    if (on) loadCoverage();
    else {
      state.coverageSeq++;
      $('coverage-status').textContent = '';
    }
  }

  // -------------------------------------------------------------------- audit

  async function loadAudit() {
    if (!isAdmin()) return;
    try {
      const data = await api('GET', `/api/audit?limit=${AUDIT_LIMIT}`);
      const entries = data && Array.isArray(data.entries) ? data.entries : [];
      $('audit-error').textContent = '';
      const rows = entries.map((a) => h('tr', null, [
        h('td', { class: 'nowrap' }, h('time', { datetime: str(a.at, '') }, fmtTime(a.at))),
        h('td', null, str(a.actor)),
        h('td', null, str(a.action)),
        h('td', { class: 'mono' }, str(a.subject)),
        h('td', null, str(a.detail, '')),
      ]));
      if (!rows.length) rows.push(h('tr', null, h('td', { colspan: '5', class: 'muted' }, 'No entries.')));
      $('audit-entries').replaceChildren(...rows);
    } catch (e) {
      if (e.status === 401) return;
      $('audit-error').textContent = e.status === 403
        ? 'The audit log is for administrators.'
        : `Could not load the audit log: ${errorText(e)}`;
    }
  }

  // --------------------------------------------------------------------- init

  async function init() {
    $('login-form').addEventListener('submit', onLoginSubmit);
    $('logout').addEventListener('click', onLogout);
    $('filters').addEventListener('submit', onFiltersSubmit);
    $('reset-filters').addEventListener('click', onFiltersReset);
    $('toggle-coverage').addEventListener('change', onCoverageToggle);
    $('detail-close').addEventListener('click', closeDetail);
    $('audit-refresh').addEventListener('click', loadAudit);
    $('action-confirm').addEventListener('click', () => doAction('confirm'));
    $('action-dismiss').addEventListener('click', () => doAction('dismiss'));
    $('action-reclassify').addEventListener('click', () => doAction('reclassify'));
    $('action-known').addEventListener('click', () => doAction('known'));
    $('action-fixed').addEventListener('click', () => doAction('fixed'));
    $('action-note').addEventListener('keydown', (e) => {
      if (e.key === 'Enter') e.preventDefault();
    });
    $('cluster-detail').addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !e.target.closest('select')) closeDetail();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.user && Date.now() - state.lastPoll >= POLL_MS) poll();
    });

    try {
      const me = await api('GET', '/api/me');
      await startApp(me);
    } catch (e) {
      if (!state.user) showLogin(e.status && e.status !== 401 ? errorText(e) : '');
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
