// MovieRec's web page: fills the server-rendered pages from the JSON API and sends the
// writes. No framework and no build step; data goes into the page as text nodes only (never as
// HTML), so a title or description cannot inject markup.
"use strict";

const body = document.body;
const API = body.dataset.api;
const ROOT = body.dataset.root.replace(/\/$/, "");
const KEY_STORE = "movierec.apiKey"; // sessionStorage: this tab only
const USER_STORE = "movierec.userId"; // localStorage: the user this browser last chose

const SOURCES = {
  model: "from your ratings as of the last refresh",
  fold_in: "updated just now from your latest ratings",
  popular: "the most popular movies: rate a few to make this list yours",
  database: "the most popular movies (computed by the database while the cache is unavailable)",
};

// -- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, payload) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key; // writes and the admin status need it; reads ignore it
  const options = { method, headers };
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(payload);
  }
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (error) {
    throw new ApiError(0, "the service cannot be reached; try again in a moment");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    let message = answer && answer.error ? answer.error.message : `HTTP ${response.status}`;
    if (response.status === 401 || response.status === 403) {
      message += ". Enter a valid API key under “API key” at the top of the page.";
    }
    throw new ApiError(response.status, message);
  }
  return answer;
}

function say(message, isError = false) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
  // The page keeps room below its last row for the bar; a message on several lines (a phone)
  // needs more.
  const room = message ? `${Math.max(status.offsetHeight, 44)}px` : "";
  document.body.style.setProperty("--status-room", room);
}

// Once what failed works again, its error no longer describes the page.
function clearError() {
  if (document.getElementById("status").classList.contains("error")) say("");
}

// Runs an action, reporting what failed in the status line instead of the console.
async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    say(error instanceof ApiError ? error.message : String(error), true);
    return undefined;
  }
}

// -- pieces of the page -------------------------------------------------------------------

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function stars(value) {
  return `${Number(value).toFixed(1)} ★`;
}

function currentUser() {
  const id = Number(localStorage.getItem(USER_STORE));
  return Number.isInteger(id) && id > 0 ? id : null;
}

// What a recommendation's reason says, by the kind the API gives with it (`because_kind`):
// the liked movies most similar to it, or the latest rating it follows (the sequential ranker).
const BECAUSE = { liked: "Because you liked ", just_watched: "Because you just watched " };

// A movie card from the template: title (a link to its page), year, genres, figures,
// "because you liked" (or "just watched"), description, and the rating actions when a user is
// chosen.
function movieCard(
  movie,
  { figures = [], because = null, becauseKind = "liked", onChange = null, onOpen = null } = {},
) {
  const card = document.getElementById("movie-card").content.firstElementChild.cloneNode(true);
  card.dataset.movieId = movie.movie_id;
  const title = card.querySelector(".title");
  title.textContent = movie.title;
  title.href = `${ROOT}/movies/${movie.movie_id}`;
  if (onOpen) title.addEventListener("click", () => onOpen(movie));
  card.querySelector(".year").textContent = movie.year ? `(${movie.year})` : "";
  // New: too few ratings for the model to know it yet (placed by its content).
  card.querySelector(".badge.new").hidden = !movie.new;
  card.querySelector(".badge.retired").hidden = !movie.retired;
  card.querySelector(".genres").textContent = (movie.genres || "").split("|").join(" · ");
  card.querySelector(".figures").textContent = figures.filter(Boolean).join(" · ");
  const reason = card.querySelector(".because");
  if (because && because.length) {
    const lead = BECAUSE[becauseKind] || BECAUSE.liked;
    reason.textContent = lead + because.map((m) => m.title).join(", ");
  } else {
    reason.remove();
  }
  const description = card.querySelector(".description");
  if (movie.description) description.textContent = movie.description;
  else description.remove();
  const user = currentUser();
  if (user) wireActions(card, movie, user, onChange);
  return card;
}

function wireActions(card, movie, user, onChange) {
  const form = card.querySelector(".actions");
  form.hidden = false;
  const select = form.querySelector("select");
  const id = `rating-${movie.movie_id}-${Math.random().toString(36).slice(2, 8)}`;
  select.id = id;
  select.setAttribute("aria-label", `Your rating of ${movie.title}`);
  for (const button of form.querySelectorAll("button")) {
    button.setAttribute("aria-label", `${button.textContent}: ${movie.title}`);
  }
  // The message comes once the page shows the change, so it also says "done" to a reader.
  const done = async (message) => {
    if (onChange) await onChange(movie);
    say(message);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!select.value) {
      say("Choose a rating first.", true);
      select.focus();
      return;
    }
    attempt(async () => {
      const answer = await api("PUT", `/user/${user}/rating`, {
        movie_id: movie.movie_id,
        rating: Number(select.value),
      });
      await done(`Rated “${movie.title}” ${stars(answer.rating)}.`);
    });
  });
  form.querySelector("[name=watched]").addEventListener("click", () =>
    attempt(async () => {
      await api("PUT", `/user/${user}/watched`, { movie_id: movie.movie_id });
      await done(`Marked “${movie.title}” as watched.`);
    }),
  );
  form.querySelector("[name=dismiss]").addEventListener("click", () =>
    attempt(async () => {
      await api("PUT", `/user/${user}/dismissed`, { movie_id: movie.movie_id });
      await done(`“${movie.title}” will not be recommended to you again.`);
    }),
  );
}

function fill(list, items, emptyText) {
  list.replaceChildren(...items);
  if (!items.length) list.append(element("li", emptyText, "empty"));
  list.setAttribute("aria-busy", "false");
}

function facts(list, pairs) {
  list.replaceChildren();
  for (const [term, value] of pairs) {
    list.append(element("dt", term), element("dd", value === null || value === undefined ? "—" : String(value)));
  }
}

function count(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en");
}

// "2026-12-01T23:11:25.555434+00:00" -> "2026-12-01 23:11:25" (the API's times are UTC).
function utc(value) {
  return value ? value.slice(0, 19).replace("T", " ") : "—";
}

// A run's wall time, from its start to its end.
function wallSeconds(run) {
  if (!run.finished_at) return null;
  return (Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000;
}

function seconds(value) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(1);
}

// -- pages --------------------------------------------------------------------------------

const pages = {
  home() {
    const user = currentUser();
    if (user) document.getElementById("pick-user-id").value = user;
    document.getElementById("pick-user").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = Number(document.getElementById("pick-user-id").value);
      attempt(async () => {
        await api("GET", `/user/${id}`); // says "user N not found" rather than an empty page
        location.assign(`${ROOT}/users/${id}`);
      });
    });
    document.getElementById("new-user").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      const payload = {};
      if (form.gender.value) payload.gender = form.gender.value;
      if (form.year_of_birth.value) payload.year_of_birth = Number(form.year_of_birth.value);
      attempt(async () => {
        const created = await api("PUT", "/user", payload);
        localStorage.setItem(USER_STORE, created.user_id);
        location.assign(`${ROOT}/users/${created.user_id}`);
      });
    });
  },

  async user() {
    const user = Number(body.dataset.userId);
    const facts_ = document.getElementById("user-facts");
    const found = await attempt(() => api("GET", `/user/${user}`));
    if (!found) {
      facts_.textContent = "No such user. Pick another one on the start page.";
      document.getElementById("recommendations").setAttribute("aria-busy", "false");
      return;
    }
    localStorage.setItem(USER_STORE, user);
    showMyPage();
    facts_.textContent = [
      found.gender ? `Gender ${found.gender}` : null,
      found.year_of_birth ? `born ${found.year_of_birth}` : null,
    ].filter(Boolean).join(", ");
    const refresh = async () => {
      await Promise.all([showRecommendations(user), showRatings(user), showDismissed(user)]);
    };
    document.getElementById("ratings-order").addEventListener("change", () =>
      attempt(() => showRatings(user)),
    );
    pages.refreshUser = refresh; // before the cards exist: their buttons call it
    await attempt(refresh);
  },

  async movie() {
    const id = Number(body.dataset.movieId);
    const movie = await attempt(() => api("GET", `/movie/${id}`));
    const holder = document.getElementById("movie");
    if (!movie) {
      fill(holder, [], "No such movie.");
      document.querySelector(".operator-tools").hidden = true;
      return;
    }
    showMovie(movie);
    wireMovieTools(movie);
    await attempt(() => showStatistics(id));
    const similar = await attempt(() => api("GET", `/movie/${id}/similar?limit=10`));
    if (similar) {
      fill(
        document.getElementById("similar"),
        similar.similar.map((m) =>
          movieCard(m, { figures: [`similarity ${m.score.toFixed(2)}`, votes(m.votes)] }),
        ),
        "None yet: the model has not seen this movie (nobody had rated it at the last refresh).",
      );
    }
  },

  newMovie() {
    const form = document.getElementById("new-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(async () => {
        const created = await api("PUT", "/movie", movieFields(form));
        location.assign(`${ROOT}/movies/${created.movie_id}`);
      });
    });
  },

  top() {
    const form = document.getElementById("top-filters");
    const list = document.getElementById("top-movies");
    const params = new URLSearchParams(location.search);
    for (const name of ["genres", "year_min", "year_max"]) {
      if (params.get(name)) form.elements[name].value = params.get(name);
    }
    const show = async () => {
      const query = new URLSearchParams({ limit: "50" });
      for (const name of ["genres", "year_min", "year_max"]) {
        if (form.elements[name].value) query.set(name, form.elements[name].value);
      }
      const answer = await api("GET", `/movies/top?${query}`);
      history.replaceState(null, "", `?${query}`);
      clearError();
      fill(
        list,
        answer.top_movies.map((entry) =>
          movieCard(entry, {
            figures: [
              average(entry.avg_rating),
              votes(entry.votes),
            ],
          }),
        ),
        "No movie matches these filters.",
      );
      return true;
    };
    // A list left on screen under an error would look like the answer to the filters shown.
    const showOrClear = async () => {
      if (!(await attempt(show))) fill(list, [], "No list for these filters: see the message below.");
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      showOrClear();
    });
    return showOrClear();
  },

  async search() {
    const q = body.dataset.q;
    const list = document.getElementById("results");
    if (!q) {
      fill(list, [], "Type words of a title in the search box.");
      return;
    }
    const answer = await attempt(() => api("GET", `/movies/search?q=${encodeURIComponent(q)}&limit=30`));
    if (answer) {
      fill(
        list,
        answer.movies.map((m) => movieCard(m, { figures: [votes(m.votes)] })),
        "No title has all these words.",
      );
    }
  },

  async operator() {
    const days = document.getElementById("online-days");
    if (!days.dataset.wired) {
      days.dataset.wired = "yes";
      days.addEventListener("change", () => attempt(() => showOnlineMetrics(Number(days.value))));
    }
    await Promise.all([showEngineStatus(), attempt(() => showOnlineMetrics(Number(days.value)))]);
  },
};

async function showEngineStatus() {
  const status = await attempt(() => api("GET", "/admin/status"));
  if (!status) return;
  const model = status.current_model;
  facts(document.getElementById("current-model"), model ? [
    ["Version", model.version],
    ["Ranking model", model.experiment ? `experiment ${model.experiment.name}: ` +
      model.experiment.arms.map((a) => `${a.arm} (${a.ranker}) ${Math.round(100 * a.share)} %`).join(", ")
      : model.ranker],
    ["Ranking parameters", JSON.stringify(model.experiment
      ? Object.fromEntries(model.experiment.arms.map((a) => [a.arm, a.params])) : model.ranker_params)],
    ["Rating model (SVD)", JSON.stringify(model.params)],
    ["Users / movies / ratings", `${count(model.n_users)} / ${count(model.n_movies)} / ${count(model.n_ratings)}`],
    ["Training RMSE", model.train_rmse === null ? null : model.train_rmse.toFixed(4)],
    ["Finished (UTC)", utc(model.finished_at)],
  ] : [["Version", "none yet: no refresh has published recommendations"]]);
  facts(document.getElementById("versions"), [
    ["Recommendations version", status.versions.recommendations],
    ["Statistics version", status.versions.statistics],
    ["Users with a list", count(status.users_with_recommendations)],
    ["Refresh running now", status.running.recommendations || "no"],
    ["Statistics refresh running now", status.running.statistics || "no"],
  ]);
  const rows = status.recent_runs.map((run) => {
    const row = element("tr");
    row.className = `run-${run.status}`;
    const cells = [
      utc(run.started_at),
      run.status + (run.error ? `: ${run.error}` : ""),
      run.ranker, count(run.n_users), count(run.n_ratings),
      seconds(run.load_seconds), seconds(run.fit_seconds), seconds(run.rank_fit_seconds),
      seconds(run.content_seconds),
      seconds(run.score_seconds), seconds(run.publish_seconds), seconds(wallSeconds(run)),
    ];
    for (const value of cells) row.append(element("td", value === null ? "—" : String(value)));
    return row;
  });
  const runs = document.querySelector("#runs tbody");
  runs.replaceChildren(...rows);
  if (!rows.length) {
    const empty = element("tr");
    const cell = element("td", "No refresh has run yet.");
    cell.colSpan = 12;
    empty.append(cell);
    runs.append(empty);
  }
  const evaluation = status.latest_evaluation;
  const summary = document.getElementById("evaluation-summary");
  if (!evaluation) {
    summary.textContent = "None recorded: run `movierec model evaluate --ranking` on the database's ratings.";
    return;
  }
  summary.textContent = `${evaluation.split} split, @${evaluation.k}, ${count(evaluation.n_users)} users, ` +
    `${count(evaluation.n_ratings)} ratings, evaluated ${utc(evaluation.evaluated_at)} UTC`;
  const table = document.getElementById("evaluation");
  table.hidden = false;
  table.querySelector("tbody").replaceChildren(...evaluation.results.map((result) => {
    const row = element("tr");
    const number = (value, digits = 4) => (typeof value === "number" ? value.toFixed(digits) : "—");
    for (const value of [
      result.model, number(result.ndcg_rel), number(result.ndcg_vs_popular, 2),
      number(result.precision_rel), number(result.recall_rel),
      typeof result.coverage === "number" ? `${(100 * result.coverage).toFixed(1)} %` : "—",
    ]) row.append(element("td", value));
    return row;
  }));
}

// -- online metrics (the operator page) ------------------------------------------------------

const PLOTTED = [
  ["impressions", "Lists shown", (v) => count(v)],
  ["users", "Users shown a list", (v) => count(v)],
  ["click_through", "Click-through (clicks per list)", (v) => v.toFixed(3)],
  ["liked_per_user", "Liked per user shown a list", (v) => v.toFixed(3)],
  ["liked_per_slot", "Liked per movie shown", (v) => v.toFixed(4)],
  ["dismissed_per_slot", "Dismissed per movie shown", (v) => v.toFixed(4)],
  ["coverage", "Coverage of the catalogue", (v) => `${(100 * v).toFixed(1)} %`],
];
const COLOURS = ["#6a2a7c", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#7f7f7f"];

function armLabel(arm) {
  return arm.experiment ? `${arm.experiment}/${arm.arm}` : arm.arm;
}

function withInterval(rate, digits) {
  if (!rate || rate.value === null) return "—";
  const value = rate.value.toFixed(digits);
  return rate.low === null ? value : `${value} [${rate.low.toFixed(digits)}, ${rate.high.toFixed(digits)}]`;
}

async function showOnlineMetrics(days) {
  const report = await api("GET", `/admin/experiment?days=${days}`);
  const summary = document.getElementById("online-summary");
  const table = document.getElementById("online");
  const plots = document.getElementById("online-plots");
  const verdicts = document.getElementById("online-verdicts");
  if (!report.arms.length) {
    summary.textContent = `No lists recorded from ${report.from} to ${report.to} (UTC).`;
    table.hidden = true;
    plots.replaceChildren();
    verdicts.replaceChildren();
    return;
  }
  summary.textContent = `${report.from} to ${report.to} (UTC); intervals: ${Math.round(100 * report.confidence)} %, ` +
    `from ${report.resamples} bootstrap resamples of users.`;
  table.hidden = false;
  table.querySelector("tbody").replaceChildren(...report.arms.map((arm) => {
    const row = element("tr");
    for (const value of [
      arm.experiment || "—", arm.arm, arm.ranker, count(arm.users), count(arm.impressions),
      count(arm.clicks), count(arm.liked_after_shown),
      withInterval(arm.rates.click_through, 3), withInterval(arm.rates.liked_per_user, 3),
      withInterval(arm.rates.liked_per_slot, 4), withInterval(arm.rates.dismissed_per_slot, 4),
      arm.coverage === null ? "—" : `${(100 * arm.coverage).toFixed(1)} %`,
    ]) row.append(element("td", value));
    return row;
  }));
  verdicts.replaceChildren(...report.arms.flatMap((arm) => arm.comparison
    .filter((c) => c.metric === report.primary_rate || c.metric === "liked_per_slot")
    .map((c) => element("li", `${arm.experiment}: ${c.metric.replaceAll("_", " ")}: ${c.verdict}`))));
  const series = new Map();
  for (const row of report.daily) {
    const label = armLabel(row);
    if (!series.has(label)) series.set(label, []);
    series.get(label).push(row);
  }
  plots.replaceChildren(...PLOTTED.map(([key, title, format]) => linePlot(title, key, series, format)));
}

// One metric over the days, a line per arm, as an SVG drawn from the numbers (no library).
function linePlot(title, key, series, format) {
  const figure = element("figure", null, "plot");
  const caption = element("h3", title);
  figure.append(caption);
  const width = 320, height = 160, left = 48, bottom = 22, top = 8, right = 8;
  const days = [...new Set([...series.values()].flat().map((row) => row.day))].sort();
  const values = [...series.values()].flat().map((row) => row[key]).filter((v) => typeof v === "number");
  const highest = Math.max(...values, 0) || 1;
  const x = (day) => left + (days.length > 1 ? (days.indexOf(day) / (days.length - 1)) : 0.5) * (width - left - right);
  const y = (value) => top + (1 - value / highest) * (height - top - bottom);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${title} per day and arm`);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("line", { x1: left, y1: y(0), x2: width - right, y2: y(0), stroke: "#999" });
  add("text", { x: left - 4, y: y(highest) + 4, "text-anchor": "end" }, format(highest));
  add("text", { x: left - 4, y: y(0), "text-anchor": "end" }, format(0));
  if (days.length) {
    add("text", { x: x(days[0]), y: height - 6, "text-anchor": "start" }, days[0].slice(5));
    add("text", { x: x(days[days.length - 1]), y: height - 6, "text-anchor": "end" }, days[days.length - 1].slice(5));
  }
  const legend = element("p", null, "legend");
  [...series.entries()].forEach(([label, rows], index) => {
    const colour = COLOURS[index % COLOURS.length];
    const points = rows.filter((row) => typeof row[key] === "number").map((row) => `${x(row.day)},${y(row[key])}`);
    if (points.length > 1) add("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2 });
    for (const point of points) {
      const [cx, cy] = point.split(",");
      add("circle", { cx, cy, r: 2.5, fill: colour });
    }
    const swatch = element("span", `■ ${label}  `);
    swatch.style.color = colour;
    legend.append(swatch);
  });
  figure.append(svg, legend);
  return figure;
}

// What a recommended movie shows: the stars the user is predicted to give it, or, for a movie
// from the top list (a new user's list, or the end of a list filled up), its average and votes.
function recommendationFigures(m) {
  if (m.predicted_rating !== null && m.predicted_rating !== undefined) {
    return [`you would rate it about ${stars(m.predicted_rating)}`];
  }
  return [average(m.avg_rating), votes(m.votes)];
}

function average(value) {
  if (value === undefined) return null;
  return value === null ? "too few votes for an average" : `average ${stars(value)}`;
}

function votes(value) {
  return value === null || value === undefined ? null : `${count(value)} votes`;
}

async function showRecommendations(user) {
  const answer = await api("GET", `/user/${user}/recommendations?limit=12`);
  const personal = answer.source === "model" || answer.source === "fold_in";
  // A new user's list is all top movies: saying "n filled in" of it would only puzzle.
  const filled = personal && answer.backfilled
    ? `; the last ${answer.backfilled} are top movies, as you rated some of yours since`
    : "";
  document.getElementById("recs-source").textContent =
    `${SOURCES[answer.source] || answer.source}${filled}`;
  fill(
    document.getElementById("recommendations"),
    answer.recommendations.map((m) =>
      movieCard(m, {
        figures: recommendationFigures(m),
        because: m.because,
        becauseKind: m.because_kind,
        onChange: () => pages.refreshUser(),
        onOpen: (movie) => reportClick(user, movie.movie_id, answer.impression_id),
      }),
    ),
    "Nothing to recommend yet.",
  );
}

// Tells the service that the person opened a recommended movie (what click-through counts),
// with the id of the answer that showed it. Sent as the page leaves (keepalive); a failure
// (no key where one is needed, the service away) is nobody's business on the way to the movie.
function reportClick(user, movieId, impressionId) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["X-API-Key"] = key;
  const body = { movie_id: movieId };
  if (impressionId) body.impression_id = impressionId;
  fetch(`${API}/user/${user}/clicked`, {
    method: "POST", headers, body: JSON.stringify(body), keepalive: true,
  }).catch(() => {});
}

// A row of the user's lists: the movie (a link to its page), what to show beside it, and one
// button that undoes it (a DELETE of ``path``), after which the user page is shown anew.
function undoableRow(user, movie, details, { text, label, path, message }) {
  const row = element("li");
  const link = element("a", movie.title);
  link.href = `${ROOT}/movies/${movie.movie_id}`;
  const button = element("button", text);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.addEventListener("click", () =>
    attempt(async () => {
      await api("DELETE", `/user/${user}/${path}`, { movie_id: movie.movie_id });
      await pages.refreshUser();
      say(message);
    }),
  );
  row.append(link, ...details, button);
  return row;
}

async function showRatings(user) {
  const order = document.getElementById("ratings-order").value;
  const answer = await api("GET", `/user/${user}/ratings/${order}?limit=50`);
  fill(
    document.getElementById("ratings"),
    answer.ratings.map(({ movie, rating, is_implicit: implicit }) =>
      undoableRow(
        user,
        movie,
        [element("span", implicit ? `watched (${stars(rating)})` : stars(rating), "rating")],
        {
          text: "Remove",
          label: `Remove your rating of ${movie.title}`,
          path: "rating",
          message: `Removed your rating of “${movie.title}”.`,
        },
      ),
    ),
    "No ratings yet: rate a recommended movie, or search for one you know.",
  );
}

async function showDismissed(user) {
  const answer = await api("GET", `/user/${user}/dismissed?limit=50`);
  fill(
    document.getElementById("dismissed"),
    answer.dismissed.map(({ movie }) =>
      undoableRow(user, movie, [], {
        text: "Undo",
        label: `Recommend ${movie.title} again`,
        path: "dismissed",
        message: `“${movie.title}” may be recommended again.`,
      }),
    ),
    "Nothing dismissed.",
  );
}

function showMovie(movie) {
  document.title = `${movie.title} · MovieRec`;
  const card = movieCard(movie, { onChange: () => showStatistics(movie.movie_id) });
  const heading = card.querySelector("h3");
  const title = element("h1");
  title.append(...heading.childNodes);
  heading.replaceWith(title);
  fill(document.getElementById("movie"), [card], "");
  facts(document.getElementById("movie-about"), [
    ["Collection", movie.collection],
    ["Keywords", movie.keywords ? movie.keywords.join(", ") : null],
    ["In the catalogue", movie.retired ? "retired: never recommended again" : "yes"],
    ["New", movie.new ? "yes: too few ratings yet, placed by its content" : "no"],
  ]);
}

// A movie form's fields as the API takes them (an empty field: none).
function movieFields(form) {
  const value = (name) => form.elements[name].value.trim();
  const genres = [...form.querySelectorAll("input[name=genres]:checked")].map((box) => box.value);
  const keywords = value("keywords").split(",").map((word) => word.trim()).filter(Boolean);
  return {
    title: value("title"),
    year: value("year") ? Number(value("year")) : null,
    genres: genres.length ? genres.join("|") : null,
    description: value("description") || null,
    collection: value("collection") || null,
    keywords: keywords.length ? keywords : null,
  };
}

function fillMovieForm(form, movie) {
  form.elements.title.value = movie.title;
  form.elements.year.value = movie.year ?? "";
  const genres = new Set((movie.genres || "").split("|"));
  for (const box of form.querySelectorAll("input[name=genres]")) box.checked = genres.has(box.value);
  form.elements.description.value = movie.description ?? "";
  form.elements.collection.value = movie.collection ?? "";
  form.elements.keywords.value = (movie.keywords || []).join(", ");
}

// The operator's tools of a movie page: edit its fields, retire it (after a confirmation).
function wireMovieTools(movie) {
  const form = document.getElementById("edit-form");
  fillMovieForm(form, movie);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      const changed = await api("PATCH", `/movie/${movie.movie_id}`, movieFields(form));
      showMovie(changed);
      fillMovieForm(form, changed);
      say(`Saved “${changed.title}”.`);
    });
  });
  const retire = document.getElementById("retire");
  const confirm = document.getElementById("retire-confirm");
  retire.hidden = movie.retired;
  confirm.hidden = true;
  retire.addEventListener("click", () => {
    confirm.hidden = false;
    confirm.focus();
    say(`Retire “${movie.title}”? It will never be recommended again (its ratings are kept).`);
  });
  confirm.addEventListener("click", () =>
    attempt(async () => {
      const retired = await api("DELETE", `/movie/${movie.movie_id}`);
      showMovie(retired);
      retire.hidden = confirm.hidden = true;
      say(`“${retired.title}” is retired: it will not be recommended again.`);
    }),
  );
}

async function showStatistics(id) {
  const stats = await api("GET", `/movie/${id}/statistics`);
  facts(document.getElementById("movie-stats"), [
    ["Votes", stats.votes],
    ["Average rating", stats.avg_rating === null ? "too few votes" : stars(stats.avg_rating)],
    ["As of", stats.source === "cache" ? "the last statistics refresh" : "now"],
  ]);
}

function showMyPage() {
  const user = currentUser();
  const link = document.getElementById("my-page");
  if (user) {
    link.href = `${ROOT}/users/${user}`;
    link.textContent = `My recommendations (user ${user})`;
    link.hidden = false;
  }
}

function setUpKey() {
  const state = document.getElementById("key-state");
  const show = () => {
    state.textContent = sessionStorage.getItem(KEY_STORE) ? "(set for this tab)" : "(none)";
  };
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("api-key");
    if (input.value.trim()) sessionStorage.setItem(KEY_STORE, input.value.trim());
    input.value = "";
    show();
    say("The key is used for this tab's changes until you close it.");
    if (body.dataset.page === "operator") pages.operator();
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    show();
    say("Key forgotten.");
  });
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpKey();
  showMyPage();
  const page = pages[body.dataset.page];
  if (page) page();
});
