/* MiniGPT playground: the guide's trained model, running in the reader's browser.
 *
 * docs/hooks/playground.py exports the published run (minigpt/runs/<run>/model.safetensors) to
 * ONNX at build time (minigpt/onnx_export.py) and loads this file on every page holding a
 * <div class="minigpt-playground" data-model=... data-runtime=...>; this file then loads ONNX
 * Runtime Web's WebAssembly build from the site (data-runtime) and the model (data-model).
 * The graph takes new token ids plus the keys and values of the earlier tokens and returns
 * logits, the updated keys and values, and every head's attention weights.
 *
 * The page's API, for tests and for readers in the console:
 *   info = await minigpt.ready            // {run, vocab_size, block_size, ...}
 *   await minigpt.logits(text)            // next-token logits after text (vocab_size numbers)
 *   await minigpt.generate(text, {maxNewTokens, temperature, topK, topP, seed})  // new text
 *     (also onToken({id, text, step, probabilities}) per token, and signal: an AbortSignal)
 *   await minigpt.attention(text)         // {tokens, weights[layer][head][query][key]}
 *   minigpt.tokenize(text)                // {tokens, ids, seen}, or throws for a bad character
 * Like `minigpt sample`, the model sees at most the last block_size tokens, keeps a key/value
 * cache while the context fits, and recomputes the last block_size tokens once it does not.
 *
 * Material's instant navigation evaluates this script again on every visit, so everything is
 * inside one function and the ONNX session is kept across visits.
 */
(() => {
  "use strict";

  const cache = (window.__minigptPlayground = window.__minigptPlayground || { models: {} });

  // ---------------------------------------------------------------------------------------
  // The tokenizer: chapter 1's CharTokenizer, from the tokenizer saved with the model.

  class CharTokenizer {
    constructor(chars) {
      this.chars = Array.from(chars);
      this.ids = new Map(this.chars.map((ch, i) => [ch, i]));
    }

    get vocabSize() {
      return this.chars.length;
    }

    /** The ids of `text`; throws, as CharTokenizer.encode does, on a character it lacks. */
    encode(text) {
      const chars = Array.from(text); // code points, as Python iterates a str
      return chars.map((ch, position) => {
        const id = this.ids.get(ch);
        if (id === undefined) throw new VocabularyError(ch, position, this.vocabSize);
        return id;
      });
    }

    decode(ids) {
      return ids.map((id) => this.chars[id]).join("");
    }
  }

  class VocabularyError extends Error {
    constructor(ch, position, vocabSize) {
      const code = ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
      super(
        `character ${pyRepr(ch)} (U+${code}) at position ${position} is not in the ` +
          `tokenizer's vocabulary of ${vocabSize} characters`,
      );
      this.name = "VocabularyError";
      this.position = position;
    }
  }

  /** Python's repr() of a one-character string, so messages match the package's. */
  function pyRepr(ch) {
    const escapes = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\" };
    if (escapes[ch]) return `'${escapes[ch]}'`;
    if (ch === "'") return `"'"`;
    const code = ch.codePointAt(0);
    if (code < 0x20 || code === 0x7f) return `'\\x${code.toString(16).padStart(2, "0")}'`;
    return `'${ch}'`;
  }

  function makeTokenizer(spec) {
    if (spec.kind !== "char") {
      throw new Error(`the playground reads character tokenizers, not ${spec.kind}`);
    }
    return new CharTokenizer(spec.chars);
  }

  // ---------------------------------------------------------------------------------------
  // Sampling: chapter 10's sample_next_token (minigpt/sampling.py), step for step.

  // Each option's rule, in the API's words (its name; null means off) and in the form's (its
  // label; an empty field means off).
  const OPTION_RULES = {
    maxNewTokens: {
      label: "max new tokens",
      ok: (v) => Number.isInteger(v) && v >= 0,
      api: "an integer >= 0",
      form: "a whole number, 0 or more",
    },
    temperature: {
      label: "temperature",
      ok: (v) => typeof v === "number" && v >= 0,
      api: ">= 0 (0 means greedy)",
      form: "0 or more (0 always takes the most likely token)",
    },
    topK: {
      label: "top-k",
      optional: true,
      ok: (v) => Number.isInteger(v) && v >= 1,
      api: "a positive integer or null",
      form: "a whole number, 1 or more, or empty (off)",
    },
    topP: {
      label: "top-p",
      optional: true,
      ok: (v) => typeof v === "number" && v > 0 && v <= 1,
      api: "in (0, 1] or null",
      form: "more than 0 and at most 1, or empty (off)",
    },
    seed: {
      label: "seed",
      optional: true,
      ok: (v) => Number.isInteger(v),
      api: "an integer or null",
      form: "a whole number, or empty (a random one)",
    },
  };

  /** Throws on the first bad option: in the API's words, or in the form's when `form`. */
  function checkOptions(options, { form = false } = {}) {
    for (const [name, rule] of Object.entries(OPTION_RULES)) {
      const value = options[name];
      if (rule.optional && value == null) continue;
      if (rule.ok(value)) continue;
      if (!form) throw new Error(`${name} must be ${rule.api}, got ${value}`);
      const given = Number.isNaN(value) ? "it is empty" : `not ${value}`;
      throw new Error(`${rule.label} must be ${rule.form}; ${given}.`);
    }
  }

  function softmax(values) {
    let max = -Infinity;
    for (const v of values) if (v > max) max = v;
    const exps = values.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  }

  function argmax(values) {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
    return best;
  }

  /** The distribution the next token is drawn from, after temperature, top-k and top-p. */
  function samplingDistribution(logits, { temperature, topK, topP }) {
    if (temperature === 0) return softmax(logits); // greedy takes its most likely token
    let scaled = logits.map((v) => v / temperature);
    if (topK != null && topK < scaled.length) {
      const kth = [...scaled].sort((a, b) => b - a)[topK - 1];
      scaled = scaled.map((v) => (v < kth ? -Infinity : v));
    }
    if (topP != null && topP < 1) {
      const order = scaled.map((_, i) => i).sort((a, b) => scaled[b] - scaled[a]);
      const sorted = softmax(order.map((i) => scaled[i]));
      let before = 0; // drop a token once the tokens before it already reach top_p
      order.forEach((id, rank) => {
        if (before >= topP) scaled[id] = -Infinity;
        before += sorted[rank];
      });
    }
    return softmax(scaled);
  }

  function sampleNextToken(logits, options, random) {
    const probabilities = samplingDistribution(logits, options);
    if (options.temperature === 0) return { id: argmax(logits), probabilities };
    let u = random() * probabilities.reduce((a, b) => a + b, 0);
    let last = 0;
    for (let i = 0; i < probabilities.length; i++) {
      if (probabilities[i] <= 0) continue;
      last = i;
      u -= probabilities[i];
      if (u < 0) return { id: i, probabilities };
    }
    return { id: last, probabilities };
  }

  /** Mulberry32: a small seeded generator, so a seed gives the same text every time. */
  function seededRandom(seed) {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Let the browser draw and handle clicks: ONNX Runtime computes on this thread, and
   * awaiting its promises alone never gives the page a turn. */
  function yieldToBrowser() {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    });
  }

  function randomSeed() {
    return crypto.getRandomValues(new Uint32Array(1))[0] % 1000000;
  }

  // ---------------------------------------------------------------------------------------
  // The model: one ONNX Runtime Web session, one run at a time.

  class Model {
    constructor(manifest, session) {
      const c = manifest.model_config;
      this.manifest = manifest;
      this.session = session;
      this.tokenizer = makeTokenizer(manifest.tokenizer);
      this.blockSize = c.block_size;
      this.vocabSize = c.vocab_size;
      this.numLayers = c.num_layers;
      this.numHeads = c.num_heads;
      this.headDim = c.embed_dim / c.num_heads;
      this.queue = Promise.resolve();
      const empty = [this.numLayers, 1, this.numHeads, 0, this.headDim];
      this.emptyPast = new ort.Tensor("float32", new Float32Array(0), empty);
    }

    /** The manifest and the graph download while the runtime loads; then the session. */
    static async load(manifestUrl, runtime) {
      const manifest = await fetchOk(manifestUrl).then((response) => response.json());
      const graph = fetchOk(new URL(manifest.onnx, manifestUrl).href)
        .then((response) => response.arrayBuffer())
        .then((buffer) => new Uint8Array(buffer));
      const [bytes] = await Promise.all([graph, runtime]);
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
      performance.mark("minigpt:session"); // benchmarks/playground.py reads these marks
      return new Model(manifest, session);
    }

    get info() {
      const m = this.manifest;
      return {
        run: m.run,
        vocab_size: this.vocabSize,
        block_size: this.blockSize,
        num_layers: this.numLayers,
        num_heads: this.numHeads,
        embed_dim: m.model_config.embed_dim,
        num_parameters: m.num_parameters,
        step: m.step,
        val_loss: m.val_loss,
      };
    }

    /** The prompt's tokens and ids; `seen` is how many the model reads (the last ones). */
    tokenize(text) {
      const ids = this.tokenizer.encode(text);
      return {
        tokens: ids.map((id) => this.tokenizer.chars[id]),
        ids,
        seen: Math.min(ids.length, this.blockSize),
      };
    }

    /** The ids generation starts from: the prompt's, or a line break for an empty prompt
     * (minigpt.generation.prompt_ids). */
    promptIds(text) {
      if (text) return this.tokenizer.encode(text);
      const newline = this.tokenizer.ids.get("\n");
      return [newline === undefined ? 0 : newline];
    }

    /** One forward pass: `ids` after the cached `past` (or none). Runs are queued. */
    run(ids, past = null) {
      const feeds = {
        ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
        past_keys: past ? past.keys : this.emptyPast,
        past_values: past ? past.values : this.emptyPast,
      };
      const result = this.queue.then(() => this.session.run(feeds));
      this.queue = result.catch(() => {});
      return result;
    }

    lastLogits(output) {
      const data = output.logits.data;
      const seqLen = output.logits.dims[1];
      return Array.from(data.subarray((seqLen - 1) * this.vocabSize, seqLen * this.vocabSize));
    }

    async logits(text) {
      const ids = this.promptIds(text).slice(-this.blockSize);
      return this.lastLogits(await this.run(ids));
    }

    async attention(text) {
      const ids = this.promptIds(text).slice(-this.blockSize);
      const output = await this.run(ids);
      const n = ids.length;
      const data = output.attention.data;
      const weights = [];
      for (let layer = 0; layer < this.numLayers; layer++) {
        const heads = [];
        for (let head = 0; head < this.numHeads; head++) {
          const rows = [];
          for (let q = 0; q < n; q++) {
            const start = ((layer * this.numHeads + head) * n + q) * n;
            rows.push(Array.from(data.subarray(start, start + n)));
          }
          heads.push(rows);
        }
        weights.push(heads);
      }
      return { tokens: ids.map((id) => this.tokenizer.chars[id]), weights };
    }

    /** Generate after `text`; calls onToken({id, text, step, probabilities}) per token. */
    async generate(text, options = {}) {
      const settings = {
        maxNewTokens: 500,
        temperature: 0.8,
        topK: null,
        topP: null,
        seed: null,
        ...options,
      };
      checkOptions(settings);
      const random = seededRandom(settings.seed ?? randomSeed());
      const context = this.promptIds(text);
      const newIds = [];
      let past = null;
      for (let step = 0; step < settings.maxNewTokens; step++) {
        if (settings.signal && settings.signal.aborted) break;
        let output;
        if (context.length <= this.blockSize) {
          // The cache holds every earlier token: run the prompt once, then one token a step.
          output = await this.run(past ? context.slice(-1) : context, past);
          past = { keys: output.present_keys, values: output.present_values };
        } else {
          output = await this.run(context.slice(-this.blockSize)); // positions shifted
        }
        const logits = this.lastLogits(output);
        const { id, probabilities } = sampleNextToken(logits, settings, random);
        context.push(id);
        newIds.push(id);
        if (settings.onToken) {
          settings.onToken({ id, text: this.tokenizer.chars[id], step, probabilities });
        }
        await yieldToBrowser();
      }
      return this.tokenizer.decode(newIds);
    }
  }

  async function fetchOk(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`could not load ${url} (HTTP ${response.status})`);
    return response;
  }

  /** ONNX Runtime Web's WebAssembly build, from the site's own copy (docs/hooks/vendor.py).
   * Its module and binary are preloaded at once: the runtime asks for them only later. */
  function loadRuntime(runtimeUrl) {
    if (!cache.runtime) {
      for (const [rel, file, as] of [
        ["modulepreload", "ort-wasm-simd-threaded.mjs", null],
        ["preload", "ort-wasm-simd-threaded.wasm", "fetch"],
      ]) {
        const link = element("link", { rel, href: new URL(file, runtimeUrl).href });
        if (as) link.setAttribute("as", as);
        if (as) link.setAttribute("crossorigin", "anonymous");
        document.head.append(link);
      }
      cache.runtime = new Promise((resolve, reject) => {
        if (typeof ort !== "undefined") return resolve();
        const script = document.createElement("script");
        script.src = new URL("ort.wasm.min.js", runtimeUrl).href;
        script.onload = () => resolve();
        script.onerror = () => reject(new Error(`could not load ${script.src}`));
        document.head.append(script);
      }).then(() => {
        ort.env.wasm.wasmPaths = runtimeUrl;
        // Threads need a cross-origin-isolated page, which a static site is not.
        ort.env.wasm.numThreads = 1;
        ort.env.wasm.proxy = false;
      });
      cache.runtime.catch(() => delete cache.runtime);
    }
    return cache.runtime;
  }

  function loadModel(manifestUrl, runtimeUrl) {
    const runtime = new URL(runtimeUrl, location.href).href; // not relative to ort's script
    const manifest = new URL(manifestUrl, location.href).href;
    if (!cache.models[manifest]) {
      cache.models[manifest] = Model.load(manifest, loadRuntime(runtime));
      cache.models[manifest].catch(() => delete cache.models[manifest]);
    }
    return cache.models[manifest];
  }

  // ---------------------------------------------------------------------------------------
  // The page: prompt, tokens, generation, next-token probabilities, attention.

  const VISIBLE = { " ": "␣", "\n": "↵", "\t": "⇥" };
  const shown = (ch) => VISIBLE[ch] || ch;

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function numberField(label, name, attributes) {
    const input = element("input", { type: "number", name, ...attributes });
    return [element("label", { class: "minigpt-playground__field" }, label, input), input];
  }

  /** What the tokenizer knows, from its own characters: what a prompt may hold. */
  function describeVocabulary(chars) {
    const have = new Set(chars);
    const range = (from, to) =>
      Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) =>
        String.fromCharCode(from.charCodeAt(0) + i),
      );
    const parts = [];
    const covered = new Set();
    for (const [from, to] of [["a", "z"], ["A", "Z"]]) {
      if (range(from, to).every((ch) => have.has(ch))) {
        parts.push(`${from}–${to}`);
        range(from, to).forEach((ch) => covered.add(ch));
      }
    }
    for (const [ch, name] of [[" ", "space"], ["\n", "line break"]]) {
      if (have.has(ch)) {
        parts.push(name);
        covered.add(ch);
      }
    }
    const rest = chars.filter((ch) => !covered.has(ch));
    if (rest.length) parts.push(rest.join(" "));
    const digits = range("0", "9").filter((ch) => have.has(ch));
    const missing = ["an accent", "an emoji"];
    if (digits.length === 0) missing.push("a digit");
    else if (digits.length < 10) missing.push(`a digit other than ${digits.join(", ")}`);
    return (
      `Vocabulary: ${chars.length} characters (${parts.join("; ")}); any other character ` +
      `(${missing.join(", ")}) never occurs in the training text and has no id.`
    );
  }

  const VIRIDIS = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];

  function viridis(t) {
    const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
    const f = x - i;
    const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
    return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
  }

  class Playground {
    constructor(root) {
      this.root = root;
      this.model = null;
      this.abort = null;
      this.steps = []; // the sampling distribution of every generated token
      this.run = null; // the generation shown (or running), if any
      this.badPrompt = false; // the prompt holds a character outside the vocabulary
      this.build();
    }

    build() {
      const r = this.root;
      r.replaceChildren();
      this.status = element("p", { class: "minigpt-playground__status", role: "status" });
      this.status.textContent = "Loading the model and ONNX Runtime Web…";
      this.prompt = element("textarea", {
        class: "minigpt-playground__prompt",
        rows: "3",
        spellcheck: "false",
        "aria-label": "Prompt",
      });
      this.prompt.value = r.dataset.prompt || "ROMEO:";
      this.message = element("p", { class: "minigpt-playground__message", role: "alert" });
      this.tokens = element("div", { class: "minigpt-playground__tokens" });
      this.tokensCaption = element("p", { class: "minigpt-playground__caption" });

      const [maxLabel, maxInput] = numberField("max new tokens", "maxNewTokens", {
        min: "0",
        max: "2000",
        step: "1",
        value: "300",
      });
      const [tempLabel, tempInput] = numberField("temperature", "temperature", {
        min: "0",
        max: "5",
        step: "0.1",
        value: "0.8",
      });
      const [topKLabel, topKInput] = numberField("top-k", "topK", {
        min: "1",
        step: "1",
        placeholder: "off",
      });
      const [topPLabel, topPInput] = numberField("top-p", "topP", {
        min: "0.01",
        max: "1",
        step: "0.05",
        placeholder: "off",
      });
      const [seedLabel, seedInput] = numberField("seed", "seed", {
        step: "1",
        placeholder: "random",
      });
      this.inputs = { maxInput, tempInput, topKInput, topPInput, seedInput };
      this.generateButton = element("button", {
        class: "md-button md-button--primary",
        type: "button",
        text: "Generate",
      });
      this.stopButton = element("button", { class: "md-button", type: "button", text: "Stop" });
      this.stopButton.disabled = true;
      this.generateButton.disabled = true;
      const controls = element(
        "div",
        { class: "minigpt-playground__controls" },
        maxLabel,
        tempLabel,
        topKLabel,
        topPLabel,
        seedLabel,
        element(
          "div",
          { class: "minigpt-playground__buttons" },
          this.generateButton,
          this.stopButton,
        ),
      );

      this.settingsMessage = element("p", {
        class: "minigpt-playground__message minigpt-playground__message--error",
        role: "alert",
      });
      for (const input of Object.values(this.inputs)) {
        input.addEventListener("input", () => this.checkSettings());
      }

      this.output = element("pre", { class: "minigpt-playground__output", "aria-live": "off" });
      this.outputCaption = element("p", { class: "minigpt-playground__caption" });
      this.bars = element("ol", { class: "minigpt-playground__bars" });
      this.barsCaption = element("p", { class: "minigpt-playground__caption" });

      this.layer = element("select", { "aria-label": "Layer" });
      this.head = element("select", { "aria-label": "Head" });
      this.canvas = element("canvas", { class: "minigpt-playground__heatmap" });
      this.heatmapInfo = element("p", { class: "minigpt-playground__caption" });

      const section = (title, ...children) =>
        element(
          "section",
          { class: "minigpt-playground__panel" },
          element("h4", { text: title }),
          ...children,
        );
      r.append(
        this.status,
        section("Prompt", this.prompt, this.message, this.tokens, this.tokensCaption),
        section("Generate", controls, this.settingsMessage),
        element(
          "div",
          { class: "minigpt-playground__results" },
          section("Text", this.output, this.outputCaption),
          section("Next-token probabilities", this.bars, this.barsCaption),
        ),
        section(
          "Attention over the prompt",
          element(
            "div",
            { class: "minigpt-playground__heatmap-controls" },
            element("label", {}, "layer ", this.layer),
            element("label", {}, "head ", this.head),
          ),
          element("div", { class: "minigpt-playground__heatmap-box" }, this.canvas),
          element(
            "p",
            { class: "minigpt-playground__legend" },
            "weight 0",
            element("span", { class: "minigpt-playground__scale" }),
            "1",
          ),
          this.heatmapInfo,
        ),
      );
      this.prompt.addEventListener("input", () => {
        this.clearGeneration();
        this.schedulePromptUpdate();
      });
      this.layer.addEventListener("change", () => this.drawHeatmap());
      this.head.addEventListener("change", () => this.drawHeatmap());
      this.generateButton.addEventListener("click", () => this.generate());
      this.stopButton.addEventListener("click", () => this.abort && this.abort.abort());
      this.canvas.addEventListener("pointermove", (event) => this.hoverHeatmap(event));
      this.canvas.addEventListener("pointerdown", (event) => this.hoverHeatmap(event));
      this.canvas.addEventListener("pointerleave", () => this.describeHeatmap());
      this.output.addEventListener("click", (event) => {
        const step = event.target.dataset && event.target.dataset.step;
        if (step !== undefined) this.showStep(Number(step));
      });
      new ResizeObserver(() => this.drawHeatmap()).observe(this.canvas.parentElement);
    }

    attach(model) {
      this.model = model;
      const info = model.info;
      for (const [select, count] of [
        [this.layer, info.num_layers],
        [this.head, info.num_heads],
      ]) {
        select.replaceChildren(
          ...Array.from({ length: count }, (_, i) => element("option", { value: i, text: i })),
        );
      }
      const loss = info.val_loss == null ? "" : `, validation loss ${info.val_loss.toFixed(3)}`;
      this.status.textContent =
        `Model ${info.run}: ${(info.num_parameters / 1e6).toFixed(2)} M parameters, ` +
        `${info.num_layers} layers × ${info.num_heads} heads, ${info.block_size}-character ` +
        `context, trained ${info.step} steps${loss}. It runs in this page (ONNX Runtime Web, ` +
        `WebAssembly): nothing leaves your browser.`;
      this.generateButton.disabled = false;
      this.updatePrompt();
    }

    fail(text) {
      this.status.textContent = text;
      this.status.classList.add("minigpt-playground__status--error");
      this.generateButton.disabled = true;
    }

    /** The text generated from another prompt goes, and with it its probabilities: a running
     * generation stops, and the panel shows the new prompt's next token. */
    clearGeneration() {
      if (this.abort) this.abort.abort();
      this.run = null;
      this.steps = [];
      this.output.replaceChildren();
      delete this.output.dataset.tokensPerSecond;
      this.outputCaption.textContent = "";
      this.bars.replaceChildren();
      this.barsCaption.textContent = "";
    }

    schedulePromptUpdate() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.updatePrompt(), 150);
    }

    /** Tokens, messages, next-token probabilities and attention for the prompt as typed. */
    async updatePrompt() {
      if (!this.model) return;
      const text = this.prompt.value;
      const block = this.model.blockSize;
      this.message.textContent = "";
      this.message.className = "minigpt-playground__message";
      this.tokens.replaceChildren();
      let tokenized;
      try {
        tokenized = this.model.tokenize(text);
      } catch (error) {
        this.showBadCharacter(text, error);
        return;
      }
      this.badPrompt = false;
      this.generateButton.disabled = Boolean(this.abort);
      const hidden = tokenized.ids.length - tokenized.seen;
      tokenized.ids.forEach((id, i) => {
        const chip = element(
          "span",
          { class: "minigpt-playground__token", title: `token ${i}: id ${id}` },
          element("span", { class: "minigpt-playground__char", text: shown(tokenized.tokens[i]) }),
          element("span", { class: "minigpt-playground__id", text: String(id) }),
        );
        if (i < hidden) chip.classList.add("minigpt-playground__token--unseen");
        this.tokens.append(chip);
      });
      if (!text) {
        this.notice(
          "The prompt is empty: generation starts from a line break, as minigpt sample does.",
        );
      } else if (hidden > 0) {
        this.notice(
          `The prompt has ${tokenized.ids.length} tokens; the model sees only the last ` +
            `${block} (its block_size), so the first ${hidden} are greyed out.`,
        );
      }
      this.tokensCaption.textContent =
        `${tokenized.ids.length} tokens (characters; the id under each). ` +
        describeVocabulary(this.model.tokenizer.chars);
      const [logits, attention] = await Promise.all([
        this.model.logits(text),
        this.model.attention(text),
      ]);
      if (text !== this.prompt.value) return; // typed on meanwhile
      if (!this.abort && !this.steps.length) {
        // No generated text is shown: the panel shows the prompt's next token.
        this.showBars(softmax(logits), null, "After the prompt, at temperature 1.");
      }
      this.attentionData = attention;
      this.drawHeatmap();
    }

    notice(text) {
      this.message.textContent = text;
      this.message.classList.add("minigpt-playground__message--notice");
    }

    showBadCharacter(text, error) {
      this.message.textContent = `${error.message}. Remove it or use another character.`;
      this.message.classList.add("minigpt-playground__message--error");
      const chars = Array.from(text);
      chars.forEach((ch, i) => {
        const ok = this.model.tokenizer.ids.has(ch);
        const chip = element(
          "span",
          { class: "minigpt-playground__token" },
          element("span", { class: "minigpt-playground__char", text: shown(ch) }),
          element("span", {
            class: "minigpt-playground__id",
            text: ok ? String(this.model.tokenizer.ids.get(ch)) : "?",
          }),
        );
        if (!ok) chip.classList.add("minigpt-playground__token--bad");
        this.tokens.append(chip);
      });
      this.tokensCaption.textContent = "";
      this.badPrompt = true;
      this.generateButton.disabled = true;
      this.bars.replaceChildren();
      this.barsCaption.textContent = "";
      this.attentionData = null;
      this.drawHeatmap();
    }

    settings() {
      const { maxInput, tempInput, topKInput, topPInput, seedInput } = this.inputs;
      const optional = (input) => (input.value === "" ? null : Number(input.value));
      const required = (input) => (input.value === "" ? NaN : Number(input.value));
      return {
        maxNewTokens: required(maxInput),
        temperature: required(tempInput),
        topK: optional(topKInput),
        topP: optional(topPInput),
        seed: optional(seedInput),
      };
    }

    /** The settings if they are valid; otherwise null, with the reason under them. */
    checkSettings() {
      const settings = this.settings();
      try {
        checkOptions(settings, { form: true });
      } catch (error) {
        this.settingsMessage.textContent = error.message;
        return null;
      }
      this.settingsMessage.textContent = "";
      return settings;
    }

    async generate() {
      const settings = this.checkSettings();
      if (!settings) return;
      if (settings.seed == null) settings.seed = randomSeed();
      const text = this.prompt.value;
      const run = {}; // this generation, until the prompt is edited (clearGeneration)
      this.run = run;
      this.abort = new AbortController();
      this.generateButton.disabled = true;
      this.stopButton.disabled = false;
      this.steps = [];
      const promptSpan = element("span", { class: "minigpt-playground__given", text });
      this.output.replaceChildren(promptSpan);
      delete this.output.dataset.tokensPerSecond;
      this.outputCaption.textContent = "Generating…";
      this.stepsGreedy = settings.temperature === 0;
      // Tokens arrive faster than anyone reads: drawing them ~12 times a second leaves the
      // time to the model (each drawing lays the page out again).
      const pending = [];
      let frame = 0;
      const draw = () => {
        frame = 0;
        if (!pending.length || this.run !== run) return;
        const pieces = document.createDocumentFragment();
        for (const { step, piece } of pending.splice(0)) {
          pieces.append(element("span", { "data-step": String(step), text: piece }));
        }
        this.output.append(pieces);
        this.output.scrollTop = this.output.scrollHeight;
        this.showStep(this.steps.length - 1);
      };
      const started = performance.now();
      let count = 0;
      try {
        await this.model.generate(text, {
          ...settings,
          signal: this.abort.signal,
          onToken: ({ id, text: piece, step, probabilities }) => {
            if (this.run !== run) return;
            this.steps.push({ id, probabilities });
            pending.push({ step, piece });
            count++;
            if (!frame) frame = setTimeout(draw, 80);
          },
        });
        clearTimeout(frame);
        draw();
        if (this.run !== run) return; // the prompt was edited: the text is gone
        const seconds = (performance.now() - started) / 1000;
        this.output.dataset.tokensPerSecond = (count / seconds).toFixed(1); // for benchmarks
        const how = settings.temperature === 0 ? "greedy" : `seed ${settings.seed}`;
        this.outputCaption.textContent =
          `${count} new tokens (${how}) in ${seconds.toFixed(2)} s, ` +
          `${Math.round(count / seconds)} tokens/s. Click a generated character to see the ` +
          `probabilities it was drawn from.`;
      } catch (error) {
        clearTimeout(frame);
        draw();
        if (this.run === run) this.outputCaption.textContent = `Generation failed: ${error.message}`;
      } finally {
        this.abort = null;
        this.stopButton.disabled = true;
        this.generateButton.disabled = this.badPrompt;
      }
    }

    showStep(step) {
      const { id, probabilities } = this.steps[step];
      const how = this.stepsGreedy
        ? "greedy decoding takes the most likely one"
        : "after temperature, top-k and top-p";
      this.showBars(probabilities, id, `Step ${step}: ${how}; the chosen token is marked.`);
      for (const span of this.output.querySelectorAll(".minigpt-playground__current")) {
        span.classList.remove("minigpt-playground__current");
      }
      const span = this.output.querySelector(`[data-step="${step}"]`);
      if (span) span.classList.add("minigpt-playground__current");
    }

    showBars(probabilities, chosen, caption) {
      const top = probabilities
        .map((p, id) => ({ p, id }))
        .sort((a, b) => b.p - a.p)
        .slice(0, 10);
      this.bars.replaceChildren(
        ...top.map(({ p, id }) => {
          const bar = element("span", { class: "minigpt-playground__bar" });
          bar.style.width = `${(100 * p).toFixed(1)}%`;
          const item = element(
            "li",
            {},
            element("code", { text: shown(this.model.tokenizer.chars[id]) }),
            element("span", { class: "minigpt-playground__track" }, bar),
            element("span", { class: "minigpt-playground__p", text: `${(100 * p).toFixed(1)}%` }),
          );
          if (id === chosen) item.classList.add("minigpt-playground__chosen");
          return item;
        }),
      );
      this.barsCaption.textContent = caption;
    }

    /** The selected head's weights as a heatmap: a row per query, a column per key. */
    drawHeatmap() {
      const canvas = this.canvas;
      const data = this.attentionData;
      const box = canvas.parentElement;
      const context = canvas.getContext("2d");
      if (!data || !box.clientWidth) {
        canvas.width = canvas.height = 0;
        this.heatmapInfo.textContent = data ? "" : "No attention to show for this prompt.";
        return;
      }
      const n = data.tokens.length;
      const label = 18;
      const room = Math.min(box.clientWidth, 600) - label; // a heatmap, not a wall
      const cell = Math.max(4, Math.min(24, Math.floor(room / n)));
      const size = label + cell * n;
      const ratio = window.devicePixelRatio || 1;
      canvas.width = size * ratio;
      canvas.height = size * ratio;
      canvas.style.width = `${size}px`;
      canvas.style.height = `${size}px`;
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      const style = getComputedStyle(this.root);
      const weights = data.weights[Number(this.layer.value)][Number(this.head.value)];
      context.clearRect(0, 0, size, size);
      for (let q = 0; q < n; q++) {
        for (let k = 0; k <= q; k++) {
          context.fillStyle = viridis(weights[q][k]);
          context.fillRect(label + k * cell, label + q * cell, cell, cell);
        }
      }
      context.fillStyle = style.getPropertyValue("--md-default-fg-color--light") || "#888";
      context.font = `${Math.min(12, Math.max(9, cell - 3))}px monospace`;
      context.textAlign = "center";
      context.textBaseline = "middle";
      if (cell >= 8) {
        data.tokens.forEach((token, i) => {
          context.fillText(shown(token), label + (i + 0.5) * cell, label / 2);
          context.fillText(shown(token), label / 2, label + (i + 0.5) * cell);
        });
      }
      this.heatmapGeometry = { label, cell, n };
      this.describeHeatmap();
    }

    describeHeatmap() {
      if (!this.attentionData) return;
      this.heatmapInfo.textContent =
        `Row: the token that looks (query); column: the token looked at (key). Each row ` +
        `sums to 1 and nothing right of the diagonal is seen. ` +
        `Point at or tap a cell for its weight.`;
    }

    hoverHeatmap(event) {
      const g = this.heatmapGeometry;
      if (!g || !this.attentionData) return;
      const rect = this.canvas.getBoundingClientRect();
      const k = Math.floor((event.clientX - rect.left - g.label) / g.cell);
      const q = Math.floor((event.clientY - rect.top - g.label) / g.cell);
      if (q < 0 || k < 0 || q >= g.n || k >= g.n) return this.describeHeatmap();
      const weights = this.attentionData.weights[Number(this.layer.value)];
      const w = weights[Number(this.head.value)][q][k];
      const t = this.attentionData.tokens;
      this.heatmapInfo.textContent =
        `Token ${q} ${JSON.stringify(t[q])} looks at token ${k} ${JSON.stringify(t[k])} ` +
        `with weight ${w.toFixed(3)}.`;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Start: mount on the page's playground and publish the API.

  function start() {
    const root = document.querySelector(".minigpt-playground:not([data-mounted])");
    if (!root) return;
    root.dataset.mounted = "true";
    const playground = new Playground(root);
    // The runtime and the model (about 17 MB) load when the playground comes near the screen,
    // or when someone asks for them (the API below): a reader of chapter 11 who never scrolls
    // to its end downloads neither.
    let begin;
    const needed = new Promise((resolve) => (begin = resolve));
    if ("IntersectionObserver" in window) {
      const observer = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) {
            observer.disconnect();
            begin();
          }
        },
        { rootMargin: "1000px 0px" },
      );
      observer.observe(root);
    } else {
      begin();
    }
    const model = needed.then(() => {
      if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
        throw new Error(
          "This browser has no WebAssembly (or it is turned off), which the playground " +
            "needs to run the model. Try a current Firefox, Chrome, Safari or Edge.",
        );
      }
      return loadModel(root.dataset.model, root.dataset.runtime);
    });
    const ready = model.then(
      (loaded) => {
        playground.attach(loaded);
        performance.mark("minigpt:ready");
        return loaded.info;
      },
      (error) => {
        playground.fail(`The playground could not start: ${error.message}`);
        throw error;
      },
    );
    ready.catch(() => {}); // reported on the page; the API's callers see the rejection
    const loaded = () => {
      begin();
      return model;
    };
    window.minigpt = {
      get ready() {
        begin();
        return ready;
      },
      tokenize: (text) => {
        if (!playground.model) throw new Error("the model is loading: await minigpt.ready first");
        return playground.model.tokenize(text);
      },
      logits: async (text) => (await loaded()).logits(text),
      attention: async (text) => (await loaded()).attention(text),
      generate: async (text, options) => (await loaded()).generate(text, options),
    };
  }

  start();
})();
