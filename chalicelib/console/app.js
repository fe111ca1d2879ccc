// ekiosk staff console. Plain browser JavaScript, no build step, no third-party code.
// Every action is a call to the same /api/v1 routes with the staff member's own Bearer token: the page
// holds no secret and decides nothing; the API's authorization does (a customer's token gets 403s).
// The token lives in sessionStorage only (gone when the tab closes), never in a cookie or, after load, the URL.
"use strict";

(() => {
  const TOKEN_KEY = "ekiosk.console.token";
  const API_BASE = new URL("api/v1/", location.href); // works at /console and behind a stage prefix
  const PAGE_SIZE = 50;
  const PARALLEL = 4;
  const ORDER_STATUSES = ["PENDING", "COMPLETED", "CANCELED"];

  const $ = (id) => document.getElementById(id);
  const state = { me: null, staff: false, customers: new Map(), categories: null, orderNumbers: new Map(), timer: null };

  // ---------------------------------------------------------------- DOM helpers (text only, never innerHTML)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "value") el.value = value;
      else if (key === "checked") el.checked = Boolean(value);
      else if (value === true) el.setAttribute(key, "");
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const fmtTime = (iso) => {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  };
  const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
  const fmtMoney = (value) => (value === null || value === undefined || value === "" ? "—" : String(value));
  const badge = (text, kind) => h("span", { class: `badge ${kind || text}` }, text);
  // One wrapper per cell: on a phone each cell is a two-column grid of its label and its content.
  const cell = (label, ...children) => h("td", { "data-label": label }, h("div", {}, ...children));
  const numCell = (label, ...children) => h("td", { "data-label": label, class: "num" }, h("div", {}, ...children));

  function table(headers, rows, caption) {
    return h("div", { class: "table-wrap" },
      h("table", { class: "data" },
        caption ? h("caption", { class: "muted" }, caption) : null,
        h("thead", {}, h("tr", {}, headers.map((head) => h("th", { scope: "col" }, head)))),
        h("tbody", {}, rows)));
  }

  function announce(text) {
    const status = $("status");
    status.replaceChildren(text ? h("p", { class: "notice" }, text) : "");
  }

  // ---------------------------------------------------------------- API access
  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || (body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.code = error.code || "";
      this.details = error.details ?? null;
      this.body = body;
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  async function api(method, path, { query, json, body, contentType } = {}) {
    const url = new URL(path, API_BASE);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Accept: "application/json", Authorization: `Bearer ${token()}` };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (contentType) {
      headers["Content-Type"] = contentType;
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body, credentials: "omit", cache: "no-store" });
    } catch (networkError) {
      throw new ApiError(0, { error: { code: "network_error", message: `The API could not be reached (${networkError.message}).` } });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { error: { code: "bad_response", message: text.slice(0, 200) } }; }
    }
    if (!response.ok && response.status !== 207) throw new ApiError(response.status, data);
    return { status: response.status, data };
  }

  async function allPages(path, query = {}, maxPages = 20) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < maxPages; i += 1) {
      const { data } = await api("GET", path, { query: { ...query, limit: 100, cursor } });
      items.push(...(data.items || []));
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  async function mapLimit(items, limit, fn) {
    const results = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index], index);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
  }

  // 401 and 403 end the session's view wherever they happen; other errors are shown where they happened.
  function fatal(error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut("Your sign-in was not accepted or has expired (401). Sign in again.");
      return true;
    }
    if (error instanceof ApiError && error.status === 403 && error.code !== "profile_incomplete") {
      showForbidden(error);
      return true;
    }
    return false;
  }

  function describe(error, productNames) {
    if (!(error instanceof ApiError)) return h("p", {}, String(error && error.message ? error.message : error));
    const head = `${error.message}${error.status ? ` (${error.status}${error.code ? ` ${error.code}` : ""})` : ""}`;
    const lines = detailLines(error.details, productNames);
    return h("div", {}, h("span", {}, head), lines.length ? h("ul", {}, lines.map((line) => h("li", {}, line))) : null);
  }

  function detailLines(details, productNames = new Map()) {
    if (details === null || details === undefined) return [];
    if (Array.isArray(details)) {
      return details.map((item) => {
        if (item && typeof item === "object" && "product_id" in item) {
          const name = productNames.get(item.product_id) || item.product_id;
          const parts = Object.entries(item).filter(([key]) => key !== "product_id").map(([k, v]) => `${k} ${v}`);
          return `${name}: ${parts.join(", ")}`;
        }
        return typeof item === "object" ? JSON.stringify(item) : String(item);
      });
    }
    if (typeof details === "object") {
      return Object.entries(details).map(([key, value]) =>
        `${key}: ${Array.isArray(value) ? value.join("; ") : typeof value === "object" ? JSON.stringify(value) : value}`);
    }
    return [String(details)];
  }

  function errorBox(error, productNames) {
    return h("div", { class: "error", role: "alert" }, describe(error, productNames));
  }

  // ---------------------------------------------------------------- shared look-ups
  async function loadCategories(force = false) {
    if (!state.categories || force) {
      const list = await allPages("categories");
      const byId = new Map(list.map((category) => [category.id, category]));
      const path = (category) => {
        const names = [];
        for (let c = category, guard = 0; c && guard < 50; c = byId.get(c.parent_id), guard += 1) names.unshift(c.name);
        return names.join(" / ");
      };
      state.categories = { list, byId, path: (id) => (byId.has(id) ? path(byId.get(id)) : id || "—") };
    }
    return state.categories;
  }

  async function ensureCustomers(ids) {
    const missing = [...new Set(ids)].filter((id) => id && !state.customers.has(id));
    if (!missing.length) return;
    // One page of the customer list usually covers everyone; single look-ups fill any gap.
    try {
      const { data } = await api("GET", "admin/customers", { query: { limit: 100 } });
      for (const customer of data.items || []) state.customers.set(customer.id, customer);
    } catch (error) {
      if (fatal(error)) throw error;
    }
    await mapLimit(missing.filter((id) => !state.customers.has(id)), PARALLEL, async (id) => {
      try {
        const { data } = await api("GET", `admin/customers/${encodeURIComponent(id)}`);
        state.customers.set(id, data);
      } catch (error) {
        if (error.status === 401 || error.status === 403) throw error;
        state.customers.set(id, null);
      }
    });
  }

  const customerLabel = (id) => {
    const customer = state.customers.get(id);
    return customer ? customer.email || customer.name || id : id;
  };

  async function productsById(ids) {
    const map = new Map();
    await mapLimit([...new Set(ids)], PARALLEL, async (id) => {
      try {
        map.set(id, (await api("GET", `products/${encodeURIComponent(id)}`)).data);
      } catch (error) {
        if (error.status === 401 || error.status === 403) throw error;
        map.set(id, null); // deleted since the order was placed
      }
    });
    return map;
  }

  // A list with "Load more": `fetchPage(cursor)` answers {items, next_cursor}; `render(items)` appends rows.
  function pager(container, fetchPage, render) {
    const more = h("button", { type: "button", class: "secondary more" }, "Load more");
    const load = async (cursor) => {
      more.disabled = true;
      try {
        const data = await fetchPage(cursor);
        await render(data.items || [], !cursor);
        more.hidden = !data.next_cursor;
        more.onclick = () => load(data.next_cursor);
      } catch (error) {
        if (!fatal(error)) container.append(errorBox(error));
      } finally {
        more.disabled = false;
      }
    };
    more.hidden = true;
    return { more, load };
  }

  // ---------------------------------------------------------------- views
  const views = {};

  views.pending = {
    title: "Pending orders",
    async render(body) {
      const list = h("div", { class: "orders" });
      const refresh = h("button", { type: "button", class: "secondary", onclick: () => route(true) }, "Refresh");
      body.append(
        h("div", { class: "toolbar" },
          h("p", { class: "muted" }, "Newest first. Approving deducts the stock; cancelling releases the reservation."),
          refresh),
        list);
      const { more, load } = pager(list,
        async (cursor) => (await api("GET", "orders", { query: { status: "PENDING", limit: PAGE_SIZE, cursor } })).data,
        async (orders, first) => {
          await ensureCustomers(orders.map((order) => order.customer_id));
          const products = await productsById(orders.flatMap((order) => order.items.map((item) => item.product_id)));
          if (first && !orders.length) list.append(h("p", { class: "empty" }, "No order is waiting. "));
          for (const order of orders) list.append(pendingCard(order, products));
        });
      body.append(more);
      await load(null);
    },
  };

  function stockCell(item, product, judged = true) {
    if (!product) return { covered: false, node: badge("product deleted", "bad") };
    const covered = Number(product.stock) >= Number(item.quantity);
    return {
      covered,
      node: h("span", {}, judged ? [badge(covered ? "covered" : "short", covered ? "ok" : "bad"), " "] : null,
        `stock ${product.stock}, available ${product.available}`),
    };
  }

  function itemsTable(order, products, judged = true) {
    return h("div", { class: "table-wrap" }, h("table", { class: "items" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Item"), h("th", { scope: "col", class: "num" }, "Qty"),
        h("th", { scope: "col", class: "num" }, "Price"), h("th", { scope: "col", class: "num" }, "Line"),
        products ? h("th", { scope: "col" }, "Stock") : null)),
      h("tbody", {}, order.items.map((item) => h("tr", {},
        h("td", {}, item.name),
        h("td", { class: "num" }, item.quantity),
        h("td", { class: "num" }, fmtMoney(item.price_at_time_of_order)),
        h("td", { class: "num" }, fmtMoney(item.line_total)),
        products ? h("td", { class: "stock" }, stockCell(item, products.get(item.product_id), judged).node) : null)))));
  }

  function pendingCard(order, products) {
    state.orderNumbers.set(order.id, order.number);
    const customer = state.customers.get(order.customer_id);
    const covered = order.items.every((item) => stockCell(item, products.get(item.product_id)).covered);
    const names = new Map(order.items.map((item) => [item.product_id, item.name]));
    const feedback = h("div", { class: "feedback" });
    const approve = h("button", { type: "button", class: "ok", "aria-label": `Approve order #${order.number}` }, "Approve");
    const cancel = h("button", { type: "button", class: "danger", "aria-label": `Cancel order #${order.number}` }, "Cancel order");
    let statusBadge = badge(order.status);
    const coverBadge = badge(covered ? "stock covers it" : "stock short", covered ? "ok" : "bad");
    const items = itemsTable(order, products);
    const card = h("article", { class: "card order", "data-order-id": order.id, "aria-label": `Order #${order.number}` },
      h("h3", {}, `Order #${order.number}`, statusBadge, coverBadge),
      h("dl", {},
        h("dt", {}, "Customer"), h("dd", { class: "customer-email" }, customer ? customer.email : order.customer_id),
        h("dt", {}, "Phone"), h("dd", { class: "customer-phone" }, (customer && customer.phone_number) || "—"),
        h("dt", {}, "Placed"), h("dd", {}, fmtTime(order.created_at)),
        h("dt", {}, "Order id"), h("dd", {}, h("code", {}, order.id))),
      items,
      h("p", { class: "total" }, `Total ${fmtMoney(order.total_price)}`),
      h("div", { class: "actions" }, approve, cancel),
      feedback);
    // Once decided, the card shows the order's status and the stock as it is now.
    const decided = async (status) => {
      const fresh = badge(status);
      statusBadge.replaceWith(fresh);
      statusBadge = fresh;
      coverBadge.hidden = true;
      card.querySelector(".actions").hidden = true;
      const after = await productsById(order.items.map((item) => item.product_id));
      items.replaceWith(itemsTable(order, after, false));
      return order.items.map((item) => {
        const product = after.get(item.product_id);
        return `${item.name}: stock ${product ? product.stock : "—"}, available ${product ? product.available : "—"}`;
      });
    };
    const act = async (status, verb) => {
      approve.disabled = cancel.disabled = true;
      feedback.replaceChildren();
      try {
        await api("PATCH", `orders/${encodeURIComponent(order.id)}`, { json: { status } });
        const stock = await decided(status);
        const done = h("p", { class: "notice done", tabindex: "-1" }, `Order #${order.number} ${verb}.`);
        feedback.replaceChildren(done);
        done.focus(); // the pressed button is gone: keep keyboard focus on this card
        announce(`Order #${order.number} ${verb}. Stock now: ${stock.join("; ")}`);
      } catch (error) {
        if (fatal(error)) return;
        feedback.replaceChildren(errorBox(error, names));
        approve.disabled = cancel.disabled = false;
        if (error.status === 409) {
          // Decided elsewhere meanwhile? Then show it as it is; only a PENDING order keeps its buttons.
          try {
            const now = (await api("GET", `orders/${encodeURIComponent(order.id)}`)).data;
            if (now.status !== "PENDING") await decided(now.status);
          } catch (lookup) {
            fatal(lookup);
          }
        }
      }
    };
    approve.addEventListener("click", () => act("COMPLETED", "approved"));
    cancel.addEventListener("click", () => act("CANCELED", "cancelled"));
    return card;
  }

  views.orders = {
    title: "All orders",
    async render(body, params) {
      const status = (params.get("status") || "").toUpperCase();
      const select = h("select", { id: "order-status" },
        h("option", { value: "" }, "All statuses"),
        ORDER_STATUSES.map((s) => h("option", { value: s, selected: s === status }, s.toLowerCase())));
      select.addEventListener("change", () => go("orders", { status: select.value }));
      const tbody = h("tbody", {});
      const wrap = h("div", { class: "table-wrap" }, h("table", { class: "data" },
        h("thead", {}, h("tr", {}, ["Order", "Status", "Customer", "Total", "Placed", "Items and history"]
          .map((head) => h("th", { scope: "col" }, head)))), tbody));
      body.append(
        h("div", { class: "toolbar" },
          h("div", { class: "field" }, h("label", { for: "order-status" }, "Status"), select),
          h("button", { type: "button", class: "secondary", onclick: () => route(true) }, "Refresh")),
        wrap);
      const { more, load } = pager(wrap,
        async (cursor) => (await api("GET", "orders", { query: { status, limit: PAGE_SIZE, cursor } })).data,
        async (orders, first) => {
          await ensureCustomers(orders.flatMap((order) => [order.customer_id, ...(order.history || []).map((e) => e.by)]));
          if (first && !orders.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No orders.")));
          for (const order of orders) tbody.append(orderRow(order));
        });
      body.append(more);
      await load(null);
    },
  };

  function orderRow(order) {
    state.orderNumbers.set(order.id, order.number);
    return h("tr", { "data-order-id": order.id },
      cell("Order", h("strong", {}, `#${order.number}`)),
      cell("Status", badge(order.status)),
      cell("Customer", customerLabel(order.customer_id)),
      numCell("Total", fmtMoney(order.total_price)),
      cell("Placed", fmtTime(order.created_at)),
      cell("Details", h("details", {},
        h("summary", {}, `${plural(order.items.length, "item")}, ${plural((order.history || []).length, "event")}`),
        itemsTable(order, null),
        h("ol", { class: "history", "aria-label": "History" }, (order.history || []).map((entry) =>
          h("li", {}, badge(entry.status), ` ${fmtTime(entry.at)} by ${customerLabel(entry.by)}`))),
        h("p", {}, h("a", { href: `#notifications?order_id=${encodeURIComponent(order.id)}` },
          `Notifications of order #${order.number}`)))));
  }

  views.products = {
    title: "Products",
    async render(body, params) {
      const categories = await loadCategories(true);
      const categoryId = params.get("category_id") || "";
      const descendants = params.get("include_descendants") === "true";
      const categoryOptions = (selected) => categories.list
        .map((c) => ({ id: c.id, path: categories.path(c.id) }))
        .sort((a, b) => a.path.localeCompare(b.path))
        .map((c) => h("option", { value: c.id, selected: c.id === selected }, c.path));
      const filter = h("select", { id: "product-category" }, h("option", { value: "" }, "All categories"), categoryOptions(categoryId));
      const sub = h("input", { type: "checkbox", id: "product-descendants", checked: descendants });
      const apply = () => go("products", { category_id: filter.value, include_descendants: sub.checked && filter.value ? "true" : "" });
      filter.addEventListener("change", apply);
      sub.addEventListener("change", apply);
      body.append(
        h("div", { class: "toolbar" },
          h("div", { class: "field" }, h("label", { for: "product-category" }, "Category"), filter),
          h("label", { class: "field-inline", for: "product-descendants" }, sub, "Include subcategories"),
          h("button", { type: "button", class: "secondary", onclick: () => route(true) }, "Refresh")),
        newProductForm(categoryOptions));
      const tbody = h("tbody", {});
      const wrap = h("div", { class: "table-wrap" }, h("table", { class: "data products" },
        h("thead", {}, h("tr", {}, ["Name", "Category", "Price", "Discount price", "Stock", "Reserved", "Available",
          "Current price", "Actions"].map((head) => h("th", { scope: "col" }, head)))), tbody));
      body.append(wrap);
      const query = { category_id: categoryId, include_descendants: descendants ? "true" : "" };
      const { more, load } = pager(wrap,
        async (cursor) => (await api("GET", "products", { query: { ...query, limit: PAGE_SIZE, cursor } })).data,
        async (products, first) => {
          if (first && !products.length) tbody.append(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No products.")));
          for (const product of products) tbody.append(productRow(product, categories));
        });
      body.append(more);
      await load(null);
    },
  };

  function newProductForm(categoryOptions) {
    const feedback = h("div", {});
    const field = (id, label, input) => h("div", { class: "field" }, h("label", { for: id }, label), input);
    const name = h("input", { id: "new-product-name", required: true, maxlength: 200 });
    const category = h("select", { id: "new-product-category", required: true }, categoryOptions(""));
    const price = h("input", { id: "new-product-price", class: "money", inputmode: "decimal", required: true });
    const discount = h("input", { id: "new-product-discount", class: "money", inputmode: "decimal" });
    const stock = h("input", { id: "new-product-stock", type: "number", min: 0, step: 1, value: "0", required: true });
    const form = h("form", { class: "toolbar" },
      field("new-product-name", "Name", name), field("new-product-category", "Category", category),
      field("new-product-price", "Price", price), field("new-product-discount", "Discount price", discount),
      field("new-product-stock", "Stock", stock), h("button", { type: "submit" }, "Add product"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      feedback.replaceChildren();
      try {
        const { data } = await api("POST", "products", { json: {
          name: name.value.trim(), category_id: category.value, price: price.value.trim(),
          discount_price: discount.value.trim() || null, stock: Number(stock.value),
        } });
        announce(`Product "${data.name}" added.`);
        route(true);
      } catch (error) {
        if (!fatal(error)) feedback.replaceChildren(errorBox(error));
      }
    });
    return h("details", { class: "card" }, h("summary", {}, "Add a product"), form, feedback);
  }

  function productRow(product, categories) {
    const label = (what) => `${what} of ${product.name}`;
    const price = h("input", { class: "money", inputmode: "decimal", value: product.price, "aria-label": label("Price"), name: "price" });
    const discount = h("input", { class: "money", inputmode: "decimal", value: product.discount_price ?? "",
      "aria-label": label("Discount price"), placeholder: "none", name: "discount_price" });
    const stock = h("input", { type: "number", min: 0, step: 1, value: product.stock, "aria-label": label("Stock"), name: "stock" });
    const reserved = numCell("Reserved", product.reserved);
    const available = numCell("Available", product.available);
    const current = numCell("Current price", fmtMoney(product.current_price));
    const feedback = h("div", { class: "feedback" });
    const save = h("button", { type: "button", "aria-label": `Save ${product.name}` }, "Save");
    const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete ${product.name}` }, "Delete");
    const row = h("tr", { "data-product-id": product.id },
      cell("Name", h("strong", {}, product.name)),
      cell("Category", categories.path(product.category_id)),
      cell("Price", price), cell("Discount price", discount), cell("Stock", stock),
      reserved, available, current,
      cell("Actions", h("div", { class: "actions" }, save, remove), feedback));
    const submitOnEnter = (event) => { if (event.key === "Enter") { event.preventDefault(); save.click(); } };
    for (const input of [price, discount, stock]) input.addEventListener("keydown", submitOnEnter);
    save.addEventListener("click", async () => {
      save.disabled = true;
      feedback.replaceChildren();
      try {
        const { data } = await api("PATCH", `products/${encodeURIComponent(product.id)}`, { json: {
          price: price.value.trim(), discount_price: discount.value.trim() || null, stock: Number(stock.value),
        } });
        price.value = data.price;
        discount.value = data.discount_price ?? "";
        stock.value = data.stock;
        reserved.textContent = data.reserved;
        available.textContent = data.available;
        current.textContent = fmtMoney(data.current_price);
        feedback.replaceChildren(h("span", { class: "badge ok" }, "saved"));
        announce(`Saved ${data.name}: price ${data.price}, stock ${data.stock}.`);
      } catch (error) {
        if (!fatal(error)) feedback.replaceChildren(errorBox(error));
      } finally {
        save.disabled = false;
      }
    });
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete "${product.name}"? Past orders keep their own copy of the item.`)) return;
      remove.disabled = true;
      try {
        await api("DELETE", `products/${encodeURIComponent(product.id)}`);
        row.remove();
        announce(`Deleted ${product.name}.`);
      } catch (error) {
        if (!fatal(error)) feedback.replaceChildren(errorBox(error));
        remove.disabled = false;
      }
    });
    return row;
  }

  views.upload = {
    title: "Bulk upload",
    async render(body) {
      const file = h("input", { type: "file", id: "upload-file", accept: ".csv,.json,text/csv,application/json" });
      const pasted = h("textarea", { id: "upload-text", rows: 6, spellcheck: "false",
        placeholder: "name,stock,price,category,discount_price\nDesk lamp,12,1500.00,Home/Lighting," });
      const dry = h("input", { type: "checkbox", id: "upload-dry-run" });
      const submit = h("button", { type: "submit" }, "Upload");
      const result = h("div", { id: "upload-result", "aria-live": "polite" });
      const form = h("form", { class: "card stack" },
        h("p", {}, "CSV (UTF-8, comma-separated) with the header ", h("code", {}, "name,stock,price,category"),
          " and optionally ", h("code", {}, "discount_price"), ", or a JSON list of objects with the same fields. ",
          "A category may be a path such as ", h("code", {}, "Electronics/Laptops"), "; missing categories are created. ",
          "A product whose name already exists in its category is updated, so uploading a file twice is safe."),
        h("label", { for: "upload-file" }, "CSV or JSON file"), file,
        h("label", { for: "upload-text" }, "…or paste CSV text"), pasted,
        h("label", { class: "field-inline", for: "upload-dry-run" }, dry, "Dry run: check every row, write nothing"),
        h("div", {}, submit));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        result.replaceChildren();
        const chosen = file.files && file.files[0];
        if (!chosen && !pasted.value.trim()) {
          result.replaceChildren(h("p", { class: "error", role: "alert" }, "Choose a file or paste CSV text first."));
          return;
        }
        submit.disabled = true;
        try {
          let request;
          if (chosen) {
            const data = new FormData();
            data.append("file", chosen, chosen.name);
            request = { body: data };
          } else {
            request = { body: pasted.value, contentType: "text/csv; charset=utf-8" };
          }
          const { status, data } = await api("POST", "products/bulk-upload", {
            ...request, query: { dry_run: dry.checked ? "true" : "" } });
          result.replaceChildren(uploadReport(status, data, dry.checked));
        } catch (error) {
          if (fatal(error)) return;
          if (error.body && Array.isArray(error.body.errors)) result.replaceChildren(uploadReport(error.status, error.body, dry.checked));
          else result.replaceChildren(errorBox(error));
        } finally {
          submit.disabled = false;
        }
      });
      body.append(form, result);
    },
  };

  function uploadReport(status, report, dryRun) {
    const errors = report.errors || [];
    const verdict = status === 201 ? "All rows applied" : status === 207 ? "Some rows failed" : "No row applied";
    const summary = `${dryRun ? "Dry run — " : ""}${verdict} (${status}): ${report.products_created ?? 0} created, `
      + `${report.products_updated ?? 0} updated, ${errors.length} row${errors.length === 1 ? "" : "s"} with errors.`;
    const rows = errors.flatMap((rowError) => {
      const fields = Object.entries(rowError.errors || {});
      if (!fields.length) fields.push(["", ["invalid row"]]);
      return fields.map(([field, messages]) => h("tr", { "data-row": rowError.row },
        cell("Row", h("strong", {}, rowError.row)), cell("Field", field || "—"),
        cell("Problem", Array.isArray(messages) ? messages.join("; ") : String(messages))));
    });
    return h("div", { class: "card" },
      h("p", { class: status === 201 ? "notice" : "error", role: status === 201 ? null : "alert" }, summary),
      rows.length ? table(["Row", "Field", "Problem"], rows, "Row numbers count data rows from 1 (the header is not a row).") : null);
  }

  views.categories = {
    title: "Categories",
    async render(body) {
      const categories = await loadCategories(true);
      const children = new Map();
      for (const category of categories.list) {
        const key = category.parent_id && categories.byId.has(category.parent_id) ? category.parent_id : "";
        if (!children.has(key)) children.set(key, []);
        children.get(key).push(category);
      }
      for (const list of children.values()) list.sort((a, b) => a.name.localeCompare(b.name));
      // Averages are asked for as their rows come into view (a closed branch's rows are not in view), a few
      // at a time, so a large catalog costs no more requests than the part of the tree someone looks at.
      const limit = limiter(PARALLEL);
      state.observer = new IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          state.observer.unobserve(entry.target);
          limit(() => loadAverage(entry.target));
        }
      }, { rootMargin: "200px" });
      const branch = (parentKey) => {
        const list = children.get(parentKey) || [];
        if (!list.length) return null;
        return h("ul", parentKey ? {} : { class: "tree", "aria-label": "Category tree" }, list.map((category) => {
          const average = h("span", { class: "average muted", "data-category-id": category.id }, "average …");
          state.observer.observe(average);
          const parts = [h("strong", {}, category.name), average,
            h("a", { href: `#products?category_id=${encodeURIComponent(category.id)}&include_descendants=true` }, "products")];
          const below = branch(category.id);
          return h("li", { "data-category-id": category.id }, below
            ? h("details", {}, h("summary", { class: "node" }, parts), below)
            : h("div", { class: "node leaf" }, parts));
        }));
      };
      body.append(newCategoryForm(categories),
        h("p", { class: "muted" }, "Average: the mean price of the products in a category and up to three levels below it. ",
          "Open a category to see its subcategories."),
        branch("") || h("p", { class: "empty" }, "No categories yet."));
    },
  };

  async function loadAverage(target) {
    const id = target.dataset.categoryId;
    try {
      const { data } = await api("GET", `categories/${encodeURIComponent(id)}/calculate_average_price`);
      target.textContent = data.average_price === null
        ? "no products"
        : `average ${data.average_price} over ${data.products_count} product${data.products_count === 1 ? "" : "s"}`
          + (data.subcategory_count
            ? ` (with ${data.subcategory_count} subcategor${data.subcategory_count === 1 ? "y" : "ies"})` : "");
      target.classList.remove("muted");
    } catch (error) {
      if (fatal(error)) return;
      target.textContent = `average unavailable: ${error.message}`;
    }
    target.dataset.loaded = "true";
  }

  function limiter(size) {
    let active = 0;
    const queue = [];
    const next = () => {
      if (active >= size || !queue.length) return;
      active += 1;
      const [task, resolve, reject] = queue.shift();
      task().then(resolve, reject).finally(() => { active -= 1; next(); });
    };
    return (task) => new Promise((resolve, reject) => { queue.push([task, resolve, reject]); next(); });
  }

  function newCategoryForm(categories) {
    const name = h("input", { id: "new-category-name", required: true, maxlength: 200 });
    const parent = h("select", { id: "new-category-parent" }, h("option", { value: "" }, "(top level)"),
      categories.list.map((c) => ({ id: c.id, path: categories.path(c.id) }))
        .sort((a, b) => a.path.localeCompare(b.path))
        .map((c) => h("option", { value: c.id }, c.path)));
    const feedback = h("div", {});
    const form = h("form", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "new-category-name" }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: "new-category-parent" }, "Parent"), parent),
      h("button", { type: "submit" }, "Add category"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      feedback.replaceChildren();
      try {
        const { data } = await api("POST", "categories", { json: { name: name.value.trim(), parent_id: parent.value || null } });
        announce(`Category "${data.name}" added.`);
        route(true);
      } catch (error) {
        if (!fatal(error)) feedback.replaceChildren(errorBox(error));
      }
    });
    return h("details", { class: "card" }, h("summary", {}, "Add a category"), form, feedback);
  }

  views.notifications = {
    title: "Notifications",
    async render(body, params) {
      const orderId = params.get("order_id") || "";
      const input = h("input", { id: "notification-order", value: orderId, placeholder: "order id", autocomplete: "off" });
      const auto = h("input", { type: "checkbox", id: "notification-auto", checked: params.get("auto") === "1" });
      const form = h("form", { class: "toolbar" },
        h("div", { class: "field" }, h("label", { for: "notification-order" }, "Order"), input),
        h("button", { type: "submit" }, "Filter"),
        orderId ? h("button", { type: "button", class: "secondary", onclick: () => go("notifications", {}) }, "Show all") : null,
        h("button", { type: "button", class: "secondary", onclick: () => route(true) }, "Refresh"),
        h("label", { class: "field-inline", for: "notification-auto" }, auto, "Refresh every 5 s"));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        go("notifications", { order_id: input.value.trim(), auto: auto.checked ? "1" : "" });
      });
      auto.addEventListener("change", () => go("notifications", { order_id: orderId, auto: auto.checked ? "1" : "" }));
      const tbody = h("tbody", {});
      const wrap = h("div", { class: "table-wrap" }, h("table", { class: "data notifications" },
        h("thead", {}, h("tr", {}, ["Created", "Order", "Event", "Channel", "Recipient and message", "Status", "Attempts",
          "Error", "Provider id", "Sent"].map((head) => h("th", { scope: "col" }, head)))), tbody));
      const scope = h("p", { class: "muted scope" }, orderId ? ["Only order ", h("code", {}, orderId)] : "All orders, newest first.");
      body.append(form, scope, wrap);
      if (orderId) {
        try {
          const order = (await api("GET", `orders/${encodeURIComponent(orderId)}`)).data;
          state.orderNumbers.set(order.id, order.number);
          scope.replaceChildren(`Only order #${order.number} (`, badge(order.status), `, ${customerLabel(order.customer_id)}) `,
            h("code", {}, order.id));
        } catch (error) {
          if (fatal(error)) return;
          scope.replaceChildren(h("span", { class: "error" }, `Order ${orderId}: ${error.message}`));
        }
      }
      const { more, load } = pager(wrap,
        async (cursor) => (await api("GET", "notifications", { query: { order_id: orderId, limit: PAGE_SIZE, cursor } })).data,
        async (records, first) => {
          const rows = records.map(notificationRow);
          if (!first) tbody.append(...rows);
          else if (rows.length) tbody.replaceChildren(...rows); // one swap: never an empty table in between
          else tbody.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "empty" }, "No notifications yet.")));
        });
      body.append(more);
      await load(null);
      if (auto.checked) {
        // Only the rows are refreshed (the newest page), so focus and the form stay where they are.
        const tick = async () => {
          if (!body.isConnected) return;
          await load(null);
          if (body.isConnected) state.timer = setTimeout(tick, 5000);
        };
        state.timer = setTimeout(tick, 5000);
      }
    },
  };

  function notificationRow(record) {
    const number = state.orderNumbers.get(record.order_id);
    return h("tr", { "data-notification-id": record.id, "data-order-id": record.order_id, "data-channel": record.channel,
      "data-status": record.status },
      cell("Created", fmtTime(record.created_at)),
      cell("Order", h("a", { href: `#notifications?order_id=${encodeURIComponent(record.order_id)}`, title: record.order_id },
        number ? `#${number}` : h("code", {}, `${String(record.order_id).slice(0, 8)}…`))),
      cell("Event", record.event),
      cell("Channel", record.channel),
      cell("Recipient", h("div", {}, h("div", {}, record.recipient), h("small", { class: "muted" }, record.message))),
      cell("Status", badge(record.status)),
      numCell("Attempts", record.attempts),
      cell("Error", record.error || "—"),
      cell("Provider id", record.provider_message_id ? h("code", {}, record.provider_message_id) : "—"),
      cell("Sent", fmtTime(record.sent_at) || "—"));
  }

  views.customers = {
    title: "Customers",
    async render(body) {
      const tbody = h("tbody", {});
      const wrap = h("div", { class: "table-wrap" }, h("table", { class: "data customers" },
        h("thead", {}, h("tr", {}, ["Email", "Name", "Phone", "Profile", "Role"].map((head) => h("th", { scope: "col" }, head)))),
        tbody));
      body.append(
        h("div", { class: "toolbar" },
          h("p", { class: "muted" }, "A role change applies from the person's next request."),
          h("button", { type: "button", class: "secondary", onclick: () => route(true) }, "Refresh")),
        wrap);
      const { more, load } = pager(wrap,
        async (cursor) => (await api("GET", "admin/customers", { query: { limit: PAGE_SIZE, cursor } })).data,
        async (customers) => {
          for (const customer of customers) {
            state.customers.set(customer.id, customer);
            tbody.append(customerRow(customer));
          }
        });
      body.append(more);
      await load(null);
    },
  };

  function customerRow(customer) {
    const select = h("select", { "aria-label": `Role of ${customer.email}` },
      ["customer", "admin"].map((role) => h("option", { value: role, selected: role === customer.role }, role === "admin" ? "admin (staff)" : role)));
    const save = h("button", { type: "button", "aria-label": `Save role of ${customer.email}` }, "Save role");
    const feedback = h("div", {});
    save.addEventListener("click", async () => {
      const role = select.value;
      if (role === customer.role) return;
      if (state.me && customer.id === state.me.id && role !== "admin"
        && !window.confirm("You are removing your own staff role: the console will stop working for you. Go on?")) return;
      save.disabled = true;
      feedback.replaceChildren();
      try {
        const { data } = await api("PATCH", `admin/customers/${encodeURIComponent(customer.id)}`, { json: { role } });
        customer.role = data.role;
        state.customers.set(customer.id, data);
        feedback.replaceChildren(badge("saved", "ok"));
        announce(`${data.email} is now ${data.role === "admin" ? "staff (admin)" : "a customer"}.`);
      } catch (error) {
        if (!fatal(error)) feedback.replaceChildren(errorBox(error));
        select.value = customer.role;
      } finally {
        save.disabled = false;
      }
    });
    return h("tr", { "data-customer-id": customer.id },
      cell("Email", customer.email, customer.id === (state.me && state.me.id) ? h("span", { class: "muted" }, " (you)") : null),
      cell("Name", customer.name || "—"),
      cell("Phone", customer.phone_number || "—"),
      cell("Profile", customer.profile_complete ? badge("complete", "ok")
        : badge(`missing ${(customer.missing_fields || []).join(", ") || "fields"}`, "warn")),
      cell("Role", h("div", { class: "actions" }, select, save), feedback));
  }

  // ---------------------------------------------------------------- routing and session
  function parseHash() {
    const raw = location.hash.replace(/^#/, "");
    const [name, query] = raw.split("?");
    return { name: views[name] ? name : "pending", params: new URLSearchParams(query || "") };
  }

  function go(name, params) {
    const query = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v)).toString();
    const target = `#${name}${query ? `?${query}` : ""}`;
    if (location.hash === target) route(true);
    else location.hash = target;
  }

  let renderCount = 0;
  async function route(keepStatus) {
    if (!state.me || !state.staff) return;
    clearTimeout(state.timer);
    if (state.observer) state.observer.disconnect();
    const { name, params } = parseHash();
    const view = views[name];
    const mine = ++renderCount;
    for (const link of document.querySelectorAll("#nav a")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (keepStatus !== true) announce("");
    document.title = `${view.title} · ekiosk staff console`;
    $("view-title").textContent = view.title;
    const body = h("div", { class: "view-content", "aria-busy": "true" });
    $("view-body").replaceChildren(body);
    $("view").hidden = false;
    try {
      await view.render(body, params);
    } catch (error) {
      if (!fatal(error) && mine === renderCount) body.append(errorBox(error));
    } finally {
      body.removeAttribute("aria-busy");
      body.dataset.ready = "true";
    }
  }

  function showOnly(id) {
    for (const section of ["signin", "forbidden", "view"]) $(section).hidden = section !== id;
    $("nav").hidden = id !== "view";
  }

  function showSignIn(message) {
    state.me = null;
    state.staff = false;
    showOnly("signin");
    $("who").hidden = true;
    const error = $("signin-error");
    error.hidden = !message;
    error.textContent = message || "";
    document.title = "Sign in · ekiosk staff console";
  }

  function showForbidden(error) {
    clearTimeout(state.timer);
    state.staff = false;
    showOnly("forbidden");
    announce("");
    const who = state.me ? `Signed in as ${state.me.email} (role: ${state.me.role}). ` : "";
    $("forbidden-detail").textContent = `${who}The API answered ${error.status || 403}: ${error.message}`;
    document.title = "Staff only · ekiosk staff console";
    $("forbidden-title").setAttribute("tabindex", "-1");
    $("forbidden-title").focus();
  }

  function signOut(message) {
    clearTimeout(state.timer);
    sessionStorage.removeItem(TOKEN_KEY);
    state.customers.clear();
    state.categories = null;
    announce("");
    showSignIn(message);
  }

  // A token handed over by the sign-in flow (`/console#token=…`) is kept in sessionStorage and removed
  // from the address bar and the history at once.
  function takeTokenFromUrl() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const query = new URLSearchParams(location.search);
    const handed = fragment.get("token") || fragment.get("id_token") || query.get("token") || query.get("id_token");
    if (handed) {
      sessionStorage.setItem(TOKEN_KEY, handed);
      query.delete("token");
      query.delete("id_token");
      const search = query.toString();
      history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}#pending`);
    }
  }

  async function start() {
    showOnly(null);
    if (!token()) return showSignIn();
    let me;
    try {
      me = (await api("GET", "me")).data;
    } catch (error) {
      if (error.status === 401) return signOut("That token was not accepted (401): it may have expired. Sign in again.");
      return showSignIn(`Could not load your profile: ${error.message}`);
    }
    state.me = me;
    $("who-name").textContent = `${me.name ? `${me.name} · ` : ""}${me.email}`;
    $("who").hidden = false;
    // The API decides who is staff: one staff-only call, and a 403 shows the "staff only" page.
    try {
      await api("GET", "admin/customers", { query: { limit: 1 } });
    } catch (error) {
      if (fatal(error)) return;
    }
    state.staff = true;
    showOnly("view");
    await route();
  }

  document.addEventListener("DOMContentLoaded", () => {
    takeTokenFromUrl();
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim().replace(/^bearer\s+/i, "");
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token-input").value = "";
      start().then(() => { if (state.staff) $("view-title").focus(); }); // the form is gone: focus moves on
    });
    for (const id of ["sign-out", "forbidden-sign-out"]) $(id).addEventListener("click", () => signOut());
    $("oidc-link").addEventListener("click", async (event) => {
      // A stack without Google sign-in answers 503 here: say so instead of leaving the page for a JSON error.
      event.preventDefault();
      const link = event.currentTarget.href;
      try {
        const probe = await fetch(link, { redirect: "manual", credentials: "omit", cache: "no-store" });
        if (probe.type === "opaqueredirect" || probe.ok) {
          location.assign(link);
          return;
        }
        const body = await probe.json().catch(() => ({}));
        showSignIn(`Google sign-in is not available here (${probe.status}): ${(body.error && body.error.message) || "no details"}.`);
      } catch (error) {
        showSignIn(`Google sign-in could not be reached: ${error.message}`);
      }
    });
    window.addEventListener("hashchange", () => {
      if (!state.staff) return;
      route().then(() => $("view-title").focus());
    });
    start();
  });
})();
