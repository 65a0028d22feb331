// redisbackup console: every page works without this script; it makes them live and friendlier.
"use strict";

(function () {
  // ----------------------------------------------------------------------------------------- naming rules
  // The rules and messages come from the server (redisbackup.api.naming via a JSON block): the same words the
  // admission webhook answers with.
  function nameProblems(rules, value) {
    return rules.rules
      .filter(function (rule) { return new RegExp(rule.violation, "u").test(value); })
      .map(function (rule) { return rule.message; });
  }
  window.redisbackupNameProblems = function (value) {
    var block = document.getElementById("naming-rules");
    return block ? nameProblems(JSON.parse(block.textContent), value) : null;
  };

  function setUpNameField(input) {
    var rules = JSON.parse(document.getElementById(input.dataset.namingRules).textContent);
    var list = document.getElementById(input.dataset.problems);
    var form = input.form;
    var submit = form.querySelector("[data-submit-when-valid]");
    function check() {
      var problems = nameProblems(rules, input.value);
      list.replaceChildren.apply(list, problems.map(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        return item;
      }));
      if (problems.length) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      if (submit) { submit.disabled = problems.length > 0; }
      form.querySelectorAll('[data-bind="snapshot-name"]').forEach(function (el) { el.textContent = '"' + input.value + '"'; });
      form.querySelectorAll('[data-bind="object-name"]').forEach(function (el) { el.textContent = '"' + input.value.toLowerCase() + '"'; });
    }
    input.addEventListener("input", check);
    check();
  }

  function setUpSourceSelect(select) {
    function show() {
      var parts = select.value.split(":");
      select.form.querySelectorAll('[data-bind="source"]').forEach(function (el) { el.textContent = parts[0] + ': "' + parts.slice(1).join(":") + '"'; });
    }
    select.addEventListener("change", show);
    show();
  }

  function setUpConfirm(input) {
    var submit = input.form.querySelector("[data-submit-when-confirmed]");
    function check() { submit.disabled = input.value !== input.dataset.confirm; }
    input.addEventListener("input", check);
    check();
  }

  // ---------------------------------------------------------------------------------------------- dialogs
  // Rendered open (works without script); made modal here: focus stays inside, Escape cancels.
  function setUpDialog(dialog) {
    if (typeof dialog.showModal !== "function") { return; }
    var focused = dialog.querySelector("[autofocus]") || dialog.querySelector("input:not([type=hidden]), select, button");
    dialog.close();
    document.querySelectorAll(".backdrop").forEach(function (el) { el.hidden = true; });
    dialog.showModal();
    if (focused) { focused.focus(); if (focused.select && focused.type === "text") { focused.select(); } }
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      window.location.assign(dialog.dataset.cancel);
    });
  }

  // --------------------------------------------------------------------------------------- Redis: Backup
  function setUpRedisForm(form) {
    var boxes = Array.prototype.slice.call(form.querySelectorAll('input[type=checkbox][name=cluster]'));
    var button = form.querySelector("#backup-button");
    function update() {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      button.disabled = ticked !== 1;
    }
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        // One cluster at a time is backed up, as in ElastiCache's console.
        if (box.checked) { boxes.forEach(function (other) { if (other !== box) { other.checked = false; } }); }
        update();
      });
    });
    update();
  }

  // ----------------------------------------------------------------------------------------- live tables
  function listen(url, handlers) {
    var source = new EventSource(url);
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) { handlers[name](JSON.parse(event.data)); });
    });
    window.addEventListener("pagehide", function () { source.close(); });
    return source;
  }

  function rowFrom(html) {
    var body = document.createElement("tbody");
    body.innerHTML = html;  // rendered and escaped by the server's template
    return body.firstElementChild;
  }

  function findRow(tbody, key) {
    return Array.prototype.find.call(tbody.rows, function (row) { return row.dataset.key === key; });
  }

  function setUpBackupsTable(table) {
    var tbody = table.tBodies[0];
    var summary = document.getElementById("backups-summary");
    var firstPage = table.dataset.firstPage === "true";
    listen(table.dataset.live, {
      page: function (data) {
        var rows = data.rows.map(function (entry) { return rowFrom(entry.html); });
        tbody.replaceChildren.apply(tbody, rows);
        if (summary) { summary.textContent = data.summary; }
      },
      upsert: function (data) {
        var fresh = rowFrom(data.html);
        var current = findRow(tbody, data.key);
        if (current) {
          if (current.innerHTML !== fresh.innerHTML) { fresh.classList.add("changed"); current.replaceWith(fresh); }
        } else if (firstPage) {
          fresh.classList.add("changed");
          tbody.insertBefore(fresh, tbody.firstElementChild);
        }
      },
      remove: function (data) {
        var current = findRow(tbody, data.key);
        if (current) { current.remove(); }
      }
    });
  }

  function setUpRedisTable(table) {
    listen(table.dataset.live, {
      statuses: function (statuses) {
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var status = statuses[row.dataset.rowId];
          var cell = row.querySelector(".status");
          if (!status || !cell) { return; }
          var badge = cell.querySelector(".badge");
          if (badge && badge.textContent !== status) {
            badge.textContent = status;
            badge.className = "badge status-" + status;
            row.classList.add("changed");
            setTimeout(function () { row.classList.remove("changed"); }, 1300);
          }
        });
      }
    });
  }

  // ------------------------------------------------------------------------------------------ clipboard
  function setUpCopyButton(button) {
    var target = document.getElementById(button.dataset.copy);
    var said = document.getElementById(button.dataset.copy + "-copied");
    if (!navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () { if (said) { said.textContent = "Copied"; } });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-naming-rules]").forEach(setUpNameField);
    document.querySelectorAll("[data-source-select]").forEach(setUpSourceSelect);
    document.querySelectorAll("[data-confirm]").forEach(setUpConfirm);
    document.querySelectorAll(".redis-form").forEach(setUpRedisForm);
    document.querySelectorAll("table[data-live]").forEach(function (table) {
      if (table.tBodies[0] && table.tBodies[0].id === "backup-rows") { setUpBackupsTable(table); } else { setUpRedisTable(table); }
    });
    document.querySelectorAll("[data-copy]").forEach(setUpCopyButton);
    document.querySelectorAll("dialog[data-modal][open]").forEach(setUpDialog);
    var problem = document.querySelector("main .problem[tabindex]");
    if (problem && !document.querySelector("dialog[open]")) { problem.focus(); }
  });
})();
