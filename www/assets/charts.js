// Dyno Edge demo — the console's charts, as plain SVG built here (no library, nothing inline: the
// colours are app.css classes, the geometry is SVG attributes). Every chart is an image with a
// name and a description for screen readers, each mark has a <title>, and the caller prints the
// same numbers as text next to it.
"use strict";

const DynoCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  let ids = 0;

  /** An SVG element with attributes and children (strings become text). */
  function svg(tag, attributes = {}, ...children) {
    const el = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== undefined && value !== null) el.setAttribute(name, String(value));
    }
    for (const child of children) el.append(child);
    return el;
  }

  /** A chart's root: an image named by its <title> and described by its <desc>. */
  function root(width, height, label, description, className) {
    const id = `chart-${++ids}`;
    return svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`, class: `chart ${className || ""}`.trim() },
      svg("title", { id: `${id}-t` }, label),
      svg("desc", { id: `${id}-d` }, description),
    );
  }

  /**
   * A round upper bound for an axis of four steps, at least `value`: 1, 2, 4, 6 or 8 times a
   * power of ten, so each step is round too (15, 30, 45, 60).
   */
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    return [1, 2, 4, 6, 8, 10].map((f) => f * power).find((m) => m >= value);
  }

  /**
   * Vertical bars, one per item: `{label, value, title, className}`; `axis(value)` writes the
   * y-axis ticks; every `labelEvery`-th label is written under its bar.
   */
  function bars(items, { label, description, axis = String, labelEvery = 1, width = 720, height = 200, className, maxBar = width }) {
    const left = 64;
    const bottom = 22;
    const top = 10;
    const plot = height - bottom - top;
    const max = niceMax(Math.max(0, ...items.map((i) => i.value)));
    const chart = root(width, height, label, description, className);
    for (let tick = 0; tick <= 4; tick += 1) {
      const y = top + plot - (plot * tick) / 4;
      chart.append(
        svg("line", { x1: left, x2: width, y1: y, y2: y, class: tick === 0 ? "axis" : "grid" }),
        svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, axis((max * tick) / 4)),
      );
    }
    // A few items keep a bar's width (`maxBar`) rather than fill the plot.
    const step = Math.min(maxBar, (width - left) / Math.max(items.length, 1));
    items.forEach((item, index) => {
      const h = item.value > 0 ? Math.max(2, (plot * item.value) / max) : 0;
      const x = left + index * step;
      chart.append(
        svg("rect", {
          x: x + step * 0.15, y: top + plot - h, width: step * 0.7, height: h, rx: 2,
          class: `bar ${item.className || ""}`.trim(), "data-label": item.label, "data-value": item.value,
        }, svg("title", {}, item.title)),
      );
      if (index % labelEvery === 0) {
        chart.append(svg("text", { x: x + step / 2, y: height - 6, "text-anchor": "middle", class: "tick" }, item.label));
      }
    });
    return chart;
  }

  /**
   * Horizontal stacked bars, one row per `{label, segments: [{key, value, name}]}`, all on one
   * scale; a segment's class is `seg-<key>` and it shows its count when there is room. Rows are
   * labelled in a `labelWidth` margin (0: unlabelled).
   */
  function stacked(rows, { label, description, width = 360, labelWidth = 44 }) {
    const left = labelWidth;
    const rowHeight = 34;
    const height = rows.length * rowHeight + 8;
    const max = Math.max(1, ...rows.map((r) => r.segments.reduce((sum, s) => sum + s.value, 0)));
    const chart = root(width, height, label, description, "stacked");
    rows.forEach((row, index) => {
      const y = 4 + index * rowHeight;
      const group = svg("g", { "data-row": row.key || row.label });
      if (left > 0) {
        group.append(svg("text", { x: left - 8, y: y + rowHeight / 2 + 1, "text-anchor": "end", "dominant-baseline": "middle", class: "row-label" }, row.label));
      }
      let x = left;
      const total = row.segments.reduce((sum, s) => sum + s.value, 0);
      if (total === 0) {
        group.append(
          svg("rect", { x: left, y: y + 4, width: width - left, height: rowHeight - 10, rx: 4, class: "seg-empty" }),
          svg("text", { x: left + 10, y: y + rowHeight / 2 + 1, "dominant-baseline": "middle", class: "seg-label dark" }, "aucun"),
        );
      }
      for (const segment of row.segments) {
        if (segment.value === 0) continue;
        const w = ((width - left) * segment.value) / max;
        group.append(
          svg("rect", { x, y: y + 4, width: w, height: rowHeight - 10, class: `seg seg-${segment.key}`, "data-key": segment.key, "data-value": segment.value },
            svg("title", {}, `${row.label} — ${segment.name} : ${segment.value}`)),
        );
        if (w >= 16) {
          group.append(svg("text", { x: x + w / 2, y: y + rowHeight / 2 + 1, "text-anchor": "middle", "dominant-baseline": "middle", class: "seg-label" }, String(segment.value)));
        }
        x += w;
      }
      chart.append(group);
    });
    return chart;
  }

  return { svg, bars, stacked, niceMax };
})();
