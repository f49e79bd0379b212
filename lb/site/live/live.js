// The live page: reads /stats every second; shows the total, the rate, and each replica's share.
"use strict";

const EVERY_MS = 1000;
const HISTORY_S = 60; // seconds on the chart
const RATE_S = 3; // each rate is taken over this many seconds
const LEFT_S = 5; // a replica whose count has not moved for this long has left
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

const snapshots = []; // {t: seconds, total, replicas: {name: count}}, oldest first
const colourOf = new Map();

const chart = new Chart(document.getElementById("chart"), {
  type: "line",
  data: { datasets: [] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    parsing: false,
    scales: {
      x: { type: "linear", min: -HISTORY_S, max: 0, title: { display: true, text: "seconds ago" } },
      y: { stacked: true, beginAtZero: true, title: { display: true, text: "requests per second" } },
    },
    elements: { point: { radius: 0 }, line: { borderWidth: 1 } },
    plugins: { legend: { position: "bottom" } },
  },
});

// The snapshot taken `seconds` before snapshot i (or the oldest one).
function earlier(i, seconds) {
  let j = i;
  while (j > 0 && snapshots[i].t - snapshots[j].t < seconds) j -= 1;
  return snapshots[j];
}

// Requests per second of a replica (or of all, name null) up to snapshot i.
function rateAt(i, name, seconds = RATE_S) {
  const now = snapshots[i];
  const then = earlier(i, seconds);
  if (now.t === then.t) return 0;
  const count = (s) => (name === null ? s.total : s.replicas[name] || 0);
  return (count(now) - count(then)) / (now.t - then.t);
}

function colour(name) {
  if (!colourOf.has(name)) colourOf.set(name, COLOURS[colourOf.size % COLOURS.length]);
  return colourOf.get(name);
}

function show() {
  const last = snapshots.length - 1;
  const now = snapshots[last];
  const seen = new Set(); // replicas that served within the chart's window
  for (let i = 1; i <= last; i += 1) {
    for (const name of Object.keys(snapshots[i].replicas)) {
      if (rateAt(i, name, EVERY_MS / 1000) > 0) seen.add(name);
    }
  }
  const serving = [...seen].filter((name) => rateAt(last, name, LEFT_S) > 0).sort();
  const left = [...seen].filter((name) => !serving.includes(name)).sort();
  const total = rateAt(last, null);

  document.getElementById("total").textContent = now.total.toLocaleString("en");
  document.getElementById("rate").textContent = Math.round(total).toLocaleString("en");
  document.getElementById("replicas").textContent = String(serving.length);

  const rows = [...serving, ...left].map((name) => {
    const r = rateAt(last, name);
    if (!serving.includes(name)) return `<tr class="left"><td>${name}</td><td>0</td><td>left</td></tr>`;
    const share = total > 0 ? `${((100 * r) / total).toFixed(1)}%` : "";
    return `<tr><td>${name}</td><td>${Math.round(r)}</td><td>${share}</td></tr>`;
  });
  document.querySelector("#shares tbody").innerHTML = rows.join("");

  chart.data.datasets = [...serving, ...left].map((name) => ({
    label: name,
    borderColor: colour(name),
    backgroundColor: `${colour(name)}bb`,
    fill: true,
    data: snapshots.slice(1).map((s, k) => ({ x: s.t - now.t, y: rateAt(k + 1, name) })),
  }));
  chart.update();
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/stats", { cache: "no-store" });
    if (!response.ok) throw new Error(`the stack answered ${response.status}`);
    const stats = await response.json();
    snapshots.push({ t: performance.now() / 1000, total: stats.total, replicas: stats.replicas });
    while (snapshots[snapshots.length - 1].t - snapshots[0].t > HISTORY_S + RATE_S) snapshots.shift();
    status.textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
    status.className = "";
    show();
  } catch (error) {
    status.textContent = `${error.message}: trying again`;
    status.className = "down";
  }
}

poll();
setInterval(poll, EVERY_MS);
