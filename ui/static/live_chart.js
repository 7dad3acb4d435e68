// A Plotly chart that keeps its zoom and takes new points as they come (ui/live_chart.py).
// Streamlit calls the default export again with each new `data`, on the same parentElement.
// A full figure is drawn with Plotly.react, whose uirevision keeps what the user zoomed. An
// update carries, per growing trace, the index of its first point in the whole series and the
// points from there: the chart appends (extendTraces) those past what it holds, and replaces the
// few traces that move instead of grow (a marker on a line's last value). Updates may be skipped
// on the way (Streamlit keeps only an element's latest state), so each one overlaps the last few;
// a chart that finds a gap anyway asks the server for the whole figure again.

let plotlyReady = null;

// plotly.js from the plotly Python package, served by this app: loaded once per page and kept
// to ourselves (Streamlit's own charts set window.Plotly to their copy, which must not be mixed in)
function loadPlotly(url) {
  if (plotlyReady === null) {
    plotlyReady = new Promise((resolve, reject) => {
      const before = window.Plotly;
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => {
        const ours = window.Plotly;
        if (before !== undefined) window.Plotly = before;
        resolve(ours);
      };
      script.onerror = () => {
        plotlyReady = null;
        reject(new Error(`could not load plotly.js from ${url}`));
      };
      document.head.appendChild(script);
    });
  }
  return plotlyReady;
}

function chartState(parent) {
  if (!parent.__liveChart) {
    const node = document.createElement("div");
    node.className = "live-chart";
    parent.appendChild(node);
    parent.__liveChart = { node, revision: null, base: null, seq: -1, have: [], queue: Promise.resolve() };
  }
  return parent.__liveChart;
}

async function draw(Plotly, state, data) {
  const figure = data.figure;
  await Plotly.react(state.node, figure.data, figure.layout, figure.config);
  Object.assign(state, { revision: data.revision, base: data.base, have: data.lengths.slice() });
}

// the new part of each growing trace, or null where the update starts past what the chart holds
function newPoints(state, grow) {
  const x = [], y = [], indices = [];
  for (let k = 0; k < grow.indices.length; k++) {
    const index = grow.indices[k], skip = state.have[index] - grow.start[k];
    if (skip < 0) return null;
    if (skip < grow.x[k].length) {
      indices.push(index);
      x.push(grow.x[k].slice(skip));
      y.push(grow.y[k].slice(skip));
    }
  }
  return { indices, x, y };
}

async function extend(Plotly, state, data) {
  const grow = newPoints(state, data.extend);
  if (grow === null) return false;
  if (grow.indices.length) {
    await Plotly.extendTraces(state.node, { x: grow.x, y: grow.y }, grow.indices);
    grow.indices.forEach((index, k) => { state.have[index] += grow.x[k].length; });
  }
  const swap = data.replace;
  if (swap.indices.length) {
    await Plotly.restyle(state.node, { x: swap.x, y: swap.y, text: swap.text, textposition: swap.textposition },
                         swap.indices);
  }
  return true;
}

// arrived: when Streamlit handed this message over (performance.now()); kept on the chart with
// how long drawing it took from then, for benchmarks/dashboard_scale.py to read
async function apply(state, message, arrived, setTriggerValue) {
  const Plotly = await loadPlotly(message.plotly_url);
  const data = JSON.parse(message.payload);
  if (!data.figure && data.base === state.base && data.seq === state.seq) return;  // the same state again
  state.node.dataset.arrivedAt = String(arrived);
  if (data.figure) {
    await draw(Plotly, state, data);
  } else if (data.revision !== state.revision || data.base !== state.base || !(await extend(Plotly, state, data))) {
    // mounted afresh, or missed more updates than the overlap covers: ask for the whole figure
    setTriggerValue("resync", { revision: data.revision, seq: data.seq });
    return;
  }
  state.seq = data.seq;
  state.node.dataset.seq = String(data.seq);
  state.node.dataset.points = String(state.have.reduce((a, b) => a + b, 0));
  state.node.dataset.renderMs = String(performance.now() - arrived);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const arrived = performance.now();
  const state = chartState(parentElement);
  state.queue = state.queue
    .then(() => apply(state, data, arrived, setTriggerValue))
    .catch((err) => {
      // start again from the whole figure rather than leave a chart that no longer grows
      console.error("live chart:", err);
      state.revision = null;
      setTriggerValue("resync", { error: String(err) });
    });
}
