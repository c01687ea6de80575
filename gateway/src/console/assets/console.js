// The console's only script (no inline script anywhere: the CSP forbids it). It wires print
// buttons and draws the dashboard charts with Chart.js from the JSON the page carries.
'use strict';
(() => {
  for (const button of document.querySelectorAll('[data-print]')) button.addEventListener('click', () => window.print());

  // A form submitted once is not submitted again by a second click while the page is loading
  // (the server also refuses a second submit of the same form by its idempotency key).
  for (const form of document.querySelectorAll('form[method="post"]')) {
    form.addEventListener('submit', (event) => {
      if (form.dataset.sent === '1') event.preventDefault();
      form.dataset.sent = '1';
    });
  }

  const data = document.getElementById('chart-data');
  if (!data) return;
  const load = () =>
    new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/console/assets/chart.umd.min.js';
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  const chart = JSON.parse(data.textContent);
  const colours = ['#0b5cab', '#c2410c', '#15803d', '#7e22ce', '#be123c', '#0f766e', '#4d7c0f'];
  const hours = chart.hours.map((h) => `${String(h).padStart(2, '0')}:00`);
  const yuan = (fen) => fen / 100;
  load().then(() => {
    const Chart = window.Chart;
    const common = { responsive: true, maintainAspectRatio: false, animation: false };
    const draw = (name, config) => {
      const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
      if (canvas) new Chart(canvas, { ...config, options: { ...common, ...(config.options || {}) } });
    };
    draw('taps', {
      type: 'bar',
      data: { labels: hours, datasets: chart.taps.map((row, i) => ({ label: row.operator, data: row.counts, backgroundColor: colours[i % colours.length] })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
    });
    draw('loads', {
      type: 'line',
      data: { labels: hours, datasets: [{ label: chart.labels.loads, data: chart.loadsFen.map(yuan), borderColor: colours[0], backgroundColor: colours[0] }] },
      options: { scales: { y: { beginAtZero: true } } },
    });
    draw('revenue', {
      type: 'bar',
      data: { labels: chart.revenueFen.map((r) => r.operator), datasets: [{ label: chart.labels.revenue, data: chart.revenueFen.map((r) => yuan(r.fen)), backgroundColor: colours[2] }] },
      options: { indexAxis: 'y', plugins: { legend: { display: false } } },
    });
    draw('refunds', {
      type: 'bar',
      data: { labels: [chart.labels.due, chart.labels.paid], datasets: [{ label: chart.labels.refunds, data: [chart.refunds.due, chart.refunds.paid], backgroundColor: [colours[1], colours[2]] }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
    document.body.dataset.chartsReady = '1';
  });
})();
