// Live alerts: the console's session-authenticated copy of the node's alert stream.
"use strict";
(function () {
  var table = document.getElementById("alerts");
  if (!table || !window.EventSource) { return; }
  var body = table.querySelector("tbody");
  var status = document.getElementById("live-status");
  var empty = document.getElementById("no-alerts");
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var prefix = table.getAttribute("data-stream").split("/alerts/stream")[0];
  var canAck = table.getAttribute("data-can-ack") === "1";
  var back = table.getAttribute("data-back");

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = "live-status " + cls;
  }
  function cell(row, text) {
    var td = document.createElement("td");
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text; }
    row.appendChild(td);
    return td;
  }
  function when(unix) {
    return new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  function badge(text, cls) {
    var span = document.createElement("span");
    span.className = "badge " + cls;
    span.textContent = text;
    return span;
  }
  function subjectCell(a) {
    var page = a.source === "transport" ? "/trips/" : (a.source === "xray" && canAck ? "/xray/" : null);
    if (!page) { return a.subject; }
    var link = document.createElement("a");
    link.href = prefix + page + encodeURIComponent(a.subject);
    link.textContent = a.subject;
    return link;
  }
  function ackForm(a) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = prefix + "/alerts/" + a.id + "/ack";
    form.className = "inline";
    [["csrf_token", csrf], ["back", back]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit"; button.className = "small"; button.textContent = "Acknowledge";
    form.appendChild(button);
    return form;
  }
  function add(a) {
    if (body.querySelector('tr[data-alert-id="' + a.id + '"]')) { return; }
    var row = document.createElement("tr");
    row.className = "alert-" + a.severity + " fresh";
    row.setAttribute("data-alert-id", a.id);
    var kind = document.createElement("strong");
    kind.textContent = a.kind;
    cell(row, String(a.id));
    cell(row, when(a.created_at));
    cell(row, badge(a.severity, "sev-" + a.severity));
    cell(row, a.source);
    cell(row, subjectCell(a));
    cell(row, kind);
    cell(row, a.detail);
    cell(row, a.acked_by ? "seen by " + a.acked_by : (canAck ? ackForm(a) : "—"));
    body.insertBefore(row, body.firstChild);
    if (empty) { empty.hidden = true; }
  }

  var source = new EventSource(table.getAttribute("data-stream"));
  var pending = null;  // the stream is renewed every few seconds: only a lasting gap is shown
  source.addEventListener("open", function () {
    if (pending) { window.clearTimeout(pending); pending = null; }
    if (status.className.indexOf(" live") < 0) { setStatus("Live: new alerts appear as they are stored.", "live"); }
  });
  source.addEventListener("alert", function (ev) {
    try { add(JSON.parse(ev.data)); } catch (err) { setStatus("An alert could not be shown: " + err.message, "down"); }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setStatus("The live stream stopped (signed out or session expired?). Reload the page.", "down");
    } else if (!pending) {
      pending = window.setTimeout(function () { pending = null; setStatus("Reconnecting to the live stream…", "down"); }, 3000);
    }
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
