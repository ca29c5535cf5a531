// DalalDesk's chart page. Python (ui/charts/page.py) owns the data: it sends the history once,
// then at most one batch per frame with only the bars that changed, and the order lines and fill
// markers when they change. The page draws, reports what it holds, and sends back what the trader
// did (a line dragged to a new price, a right-click at a price). Nothing here reaches the network.
"use strict";

const LWC = window.LightweightCharts;
const IST = 19800; // the chart draws UTC: shift epoch seconds so the axis reads IST
const DRAG_PX = 6; // how near the pointer must be to a draggable line to pick it up

const state = {
  feed: null,
  chart: null,
  main: null, // the price series (candles or line)
  volume: null,
  style: "candles",
  indicators: {}, // name -> line series
  lines: {}, // id -> {spec, handle}
  markers: null, // the main series' markers plugin
  markerList: [], // the fill markers last sent, put again on a new main series
  bars: new Map(), // time -> [t, o, h, l, c, v], what the page holds
  title: "",
  decimals: 2,
  showVolume: true,
  indicatorColors: {}, // name -> colour, for the legend
  indicatorLegends: {}, // name -> what the legend calls it ("" for a band's other lines)
  indicatorLast: {}, // name -> its value at the last bar (the legend's without a crosshair)
  colors: { up: "#26a69a", down: "#ef5350", text: "#d1d4dc", background: "#131722", grid: "#2a2e39" },
  drag: null,
};

function fail(where, error) {
  const text = where + ": " + (error && error.stack ? error.stack : String(error));
  if (state.feed) state.feed.page_error(text);
  else console.error(text);
}

function guarded(where, fn) {
  return function (...args) {
    try {
      return fn(...args);
    } catch (error) {
      fail(where, error);
    }
  };
}

function chartOptions() {
  const c = state.colors;
  return {
    autoSize: true,
    layout: {
      background: { type: "solid", color: c.background },
      textColor: c.text,
      attributionLogo: true, // TradingView's attribution, as its licence asks
      panes: { separatorColor: c.grid },
    },
    grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
    crosshair: { mode: LWC.CrosshairMode.Normal },
    rightPriceScale: { borderColor: c.grid },
    // Room right of the last bar for a fill marker's text, centred on its bar.
    timeScale: { borderColor: c.grid, timeVisible: true, secondsVisible: false, rightOffset: 12 },
    localization: { priceFormatter: (p) => p.toFixed(state.decimals) },
  };
}

function build() {
  const el = document.getElementById("chart");
  state.chart = LWC.createChart(el, chartOptions());
  makeMainSeries();
  state.chart.subscribeCrosshairMove(guarded("legend", showLegend));
  el.addEventListener("mousedown", guarded("drag", startDrag), true);
  window.addEventListener("mousemove", guarded("drag", moveDrag), true);
  window.addEventListener("mouseup", guarded("drag", endDrag), true);
  el.addEventListener("contextmenu", guarded("menu", contextMenu));
}

function makeMainSeries() {
  const c = state.colors;
  if (state.main) {
    for (const id of Object.keys(state.lines)) state.main.removePriceLine(state.lines[id].handle);
    if (state.markers) state.markers.detach();
    state.chart.removeSeries(state.main);
  }
  if (state.style === "line") {
    state.main = state.chart.addSeries(LWC.LineSeries, { color: "#2962ff", lineWidth: 2 });
  } else {
    state.main = state.chart.addSeries(LWC.CandlestickSeries, {
      upColor: c.up, downColor: c.down, borderVisible: false, wickUpColor: c.up, wickDownColor: c.down,
    });
  }
  state.markers = LWC.createSeriesMarkers(state.main, state.markerList);
  for (const id of Object.keys(state.lines)) {
    state.lines[id].handle = state.main.createPriceLine(lineOptions(state.lines[id].spec));
  }
  keepPricesClear();
  if (!state.volume) {
    state.volume = state.chart.addSeries(LWC.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "", lastValueVisible: false, priceLineVisible: false,
    });
    state.volume.priceScale().applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
  }
}

// Prices keep clear of the volume histogram, which takes the lowest fifth of the price pane.
function keepPricesClear() {
  state.main.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: state.showVolume ? 0.25 : 0.08 } });
}

function point(row) {
  const time = row[0] + IST;
  if (state.style === "line") return { time, value: row[4] };
  return { time, open: row[1], high: row[2], low: row[3], close: row[4] };
}

function volumePoint(row) {
  const c = state.colors;
  return { time: row[0] + IST, value: row[5], color: (row[4] >= row[1] ? c.up : c.down) + "80" };
}

function setIndicators(specs, replace) {
  for (const [name, spec] of Object.entries(specs)) {
    let series = state.indicators[name];
    if (!series) {
      series = state.chart.addSeries(
        LWC.LineSeries,
        { color: spec.color, lineWidth: spec.width || 1, priceLineVisible: false, lastValueVisible: false,
          crosshairMarkerVisible: false, title: spec.title || "" },
        spec.pane || 0,
      );
      state.indicators[name] = series;
      state.indicatorColors[name] = spec.color;
      state.indicatorLegends[name] = spec.legend ?? name;
    }
    const points = spec.points.map((p) => (p[1] === null ? { time: p[0] + IST } : { time: p[0] + IST, value: p[1] }));
    if (replace) series.setData(points);
    else for (const p of points) series.update(p);
    if (spec.points.length) state.indicatorLast[name] = spec.points[spec.points.length - 1][1];
  }
  for (const name of Object.keys(state.indicators)) {
    if (replace && !(name in specs)) {
      state.chart.removeSeries(state.indicators[name]);
      delete state.indicators[name];
      delete state.indicatorColors[name];
      delete state.indicatorLegends[name];
      delete state.indicatorLast[name];
    }
  }
}

function onConfigure(text) {
  const cfg = JSON.parse(text);
  if (cfg.colors) Object.assign(state.colors, cfg.colors);
  state.decimals = cfg.decimals ?? state.decimals;
  state.title = cfg.title ?? state.title;
  document.documentElement.style.setProperty("--up", state.colors.up);
  document.documentElement.style.setProperty("--down", state.colors.down);
  document.body.style.color = state.colors.text;
  document.body.style.background = state.colors.background;
  state.chart.applyOptions(chartOptions());
  const style = cfg.style === "line" ? "line" : "candles";
  if (style !== state.style) {
    state.style = style;
    makeMainSeries();
  }
  state.showVolume = cfg.volume !== false;
  state.volume.applyOptions({ visible: state.showVolume });
  keepPricesClear();
  document.getElementById("notice").textContent = cfg.notice || "";
  showLegend(null);
}

function onHistory(text) {
  const data = JSON.parse(text);
  state.bars = new Map(data.bars.map((row) => [row[0], row]));
  state.main.setData(data.bars.map(point));
  state.volume.setData(data.bars.map(volumePoint));
  setIndicators(data.indicators || {}, true);
  if (data.fit !== false) state.chart.timeScale().scrollToRealTime();
  showLegend(null);
  report(data.request);
}

function onBars(text) {
  const data = JSON.parse(text);
  for (const row of data.bars) {
    state.bars.set(row[0], row);
    state.main.update(point(row));
    state.volume.update(volumePoint(row));
  }
  setIndicators(data.indicators || {}, false);
  showLegend(null);
}

function lineOptions(spec) {
  return {
    price: spec.price, color: spec.color, lineWidth: spec.width || 1,
    lineStyle: spec.dashed ? LWC.LineStyle.Dashed : LWC.LineStyle.Solid,
    axisLabelVisible: true, title: spec.title || "",
  };
}

function onLines(text) {
  const specs = JSON.parse(text);
  const wanted = new Set(specs.map((s) => s.id));
  for (const id of Object.keys(state.lines)) {
    if (!wanted.has(id)) {
      state.main.removePriceLine(state.lines[id].handle);
      delete state.lines[id];
    }
  }
  for (const spec of specs) {
    if (state.drag && state.drag.id === spec.id) continue; // the trader holds it
    const known = state.lines[spec.id];
    if (known) {
      known.spec = spec;
      known.handle.applyOptions(lineOptions(spec));
    } else {
      state.lines[spec.id] = { spec, handle: state.main.createPriceLine(lineOptions(spec)) };
    }
  }
}

function onMarkers(text) {
  const marks = JSON.parse(text).map((m) => ({ ...m, time: m.time + IST }));
  marks.sort((a, b) => a.time - b.time);
  state.markerList = marks;
  state.markers.setMarkers(marks);
}

function report(request) {
  const rows = Array.from(state.bars.values()).sort((a, b) => a[0] - b[0]);
  state.feed.loaded(JSON.stringify({ request: request ?? null, count: rows.length, bars: rows }));
}

// -- legend ------------------------------------------------------------------------------------

function fmt(v) {
  return v === undefined || v === null ? "—" : Number(v).toFixed(state.decimals);
}

function showLegend(param) {
  let row = null;
  if (param && param.time !== undefined) row = state.bars.get(param.time - IST);
  if (!row && state.bars.size) row = state.bars.get(Math.max(...state.bars.keys()));
  const el = document.getElementById("legend");
  el.textContent = "";
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = state.title;
  el.appendChild(title);
  if (!row) return;
  const cls = row[4] >= row[1] ? "up" : "down";
  for (const [label, value] of [["O", row[1]], ["H", row[2]], ["L", row[3]], ["C", row[4]]]) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = `${label} ${fmt(value)}  `;
    el.appendChild(span);
  }
  if (state.showVolume) {
    const vol = document.createElement("span");
    vol.textContent = `V ${Number(row[5]).toLocaleString("en-IN")}  `;
    el.appendChild(vol);
  }
  for (const [name, series] of Object.entries(state.indicators)) {
    const label = state.indicatorLegends[name];
    if (!label) continue;
    const span = document.createElement("span");
    span.style.color = state.indicatorColors[name];
    // At the crosshair's bar, or (no crosshair) the last bar's value.
    let value = state.indicatorLast[name];
    if (param && param.time !== undefined) {
      const at = param.seriesData ? param.seriesData.get(series) : null;
      value = at && at.value !== undefined ? at.value : null;
    }
    span.textContent = `${label} ${fmt(value)}  `;
    el.appendChild(span);
  }
}

// -- chart trading: drag an order line, right-click at a price ----------------------------------

function localY(event) {
  const rect = document.getElementById("chart").getBoundingClientRect();
  return event.clientY - rect.top;
}

function startDrag(event) {
  if (event.button !== 0) return;
  const y = localY(event);
  let best = null;
  for (const [id, line] of Object.entries(state.lines)) {
    if (!line.spec.draggable) continue;
    const at = state.main.priceToCoordinate(line.spec.price);
    if (at === null) continue;
    const distance = Math.abs(at - y);
    if (distance <= DRAG_PX && (!best || distance < best.distance)) best = { id, distance };
  }
  if (!best) return;
  event.preventDefault();
  event.stopPropagation();
  state.drag = { id: best.id, from: state.lines[best.id].spec.price, price: state.lines[best.id].spec.price };
  state.chart.applyOptions({ handleScroll: false, handleScale: false });
}

function moveDrag(event) {
  if (!state.drag) return;
  const price = state.main.coordinateToPrice(localY(event));
  if (price === null) return;
  state.drag.price = price;
  state.lines[state.drag.id].handle.applyOptions({ price });
}

function endDrag(event) {
  if (!state.drag) return;
  const drag = state.drag;
  state.drag = null;
  state.chart.applyOptions({ handleScroll: true, handleScale: true });
  const line = state.lines[drag.id];
  if (line) line.handle.applyOptions({ price: line.spec.price }); // Python moves it once modified
  if (Math.abs(drag.price - drag.from) > 1e-9) state.feed.line_moved(drag.id, drag.price);
  event.preventDefault();
}

function contextMenu(event) {
  event.preventDefault();
  const price = state.main.coordinateToPrice(localY(event));
  if (price !== null) state.feed.context_menu(price, event.clientX, event.clientY);
}

// For tests and the trader's keyboard: the pixel row a line sits at, so a drag can be driven.
window.dalal = {
  lineY: (id) => {
    const line = state.lines[id];
    if (!line) return null;
    const rect = document.getElementById("chart").getBoundingClientRect();
    return rect.top + state.main.priceToCoordinate(line.spec.price);
  },
  priceY: (price) => document.getElementById("chart").getBoundingClientRect().top + state.main.priceToCoordinate(price),
  markers: () => (state.markers ? state.markers.markers().length : 0),
  bars: () => Array.from(state.bars.values()).sort((a, b) => a[0] - b[0]),
  lines: () => Object.fromEntries(Object.entries(state.lines).map(([id, l]) => [id, l.spec.price])),
};

window.addEventListener("error", (e) => fail("page", e.error || e.message));
window.addEventListener("unhandledrejection", (e) => fail("page", e.reason));
// A page that cannot draw (the library did not load) says so on the page and to Python, and
// never reports itself ready.
let startError = null;
try {
  if (!LWC) throw new Error("the chart library did not load");
  build();
} catch (error) {
  startError = error;
  document.getElementById("legend").textContent = "This chart cannot be drawn: " + String(error.message || error);
  console.error("chart page did not start: " + (error && error.stack ? error.stack : String(error)));
}
new QWebChannel(qt.webChannelTransport, (channel) => {
  const feed = channel.objects.feed;
  state.feed = feed;
  if (startError) return;
  feed.configure.connect(guarded("configure", onConfigure));
  feed.history.connect(guarded("history", onHistory));
  feed.bars.connect(guarded("bars", onBars));
  feed.lines.connect(guarded("lines", onLines));
  feed.markers.connect(guarded("markers", onMarkers));
  feed.ready();
});
