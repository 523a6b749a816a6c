/* PolySocket: the WebSocket interface over Switchboard's HTTP fallback (polling.md section 11).
   ES3, no dependencies. Served by Switchboard at /polysocket.js. Use it as
   var Socket = window.WebSocket || PolySocket; */
(function (global) {
  var scripts = global.document ? global.document.getElementsByTagName('script') : [];
  var loadedFrom = scripts.length ? scripts[scripts.length - 1].src : '';

  function originOf(url) {
    var m = /^(https?:\/\/[^\/?#]+)/i.exec(url || '');
    return m ? m[1] : '';
  }
  var defaultRelay = originOf(loadedFrom) ||
    (global.location ? global.location.protocol + '//' + global.location.host : '');

  function DomError(name, message) {
    var e = new Error(message);
    e.name = name;
    return e;
  }

  function utf8Length(text) {
    var n = 0, i, c;
    for (i = 0; i < text.length; i++) {
      c = text.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
      else n += 3;
    }
    return n;
  }

  function toJson(value) {
    if (global.JSON && global.JSON.stringify) return global.JSON.stringify(value);
    throw DomError('NotSupportedError', 'JSON is required');
  }
  function fromJson(text) { return global.JSON.parse(text); }

  var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function bytesToBase64(bytes) {
    var out = '', i, n;
    for (i = 0; i < bytes.length; i += 3) {
      n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8) |
          (i + 2 < bytes.length ? bytes[i + 2] : 0);
      out += B64.charAt((n >> 18) & 63) + B64.charAt((n >> 12) & 63) +
        (i + 1 < bytes.length ? B64.charAt((n >> 6) & 63) : '=') +
        (i + 2 < bytes.length ? B64.charAt(n & 63) : '=');
    }
    return out;
  }
  function base64ToBuffer(text) {
    var clean = text.replace(/[^A-Za-z0-9+\/]/g, '');
    var bytes = new Uint8Array(Math.floor(clean.length * 3 / 4));
    var i, j = 0, n;
    for (i = 0; i < clean.length; i += 4) {
      n = (B64.indexOf(clean.charAt(i)) << 18) | (B64.indexOf(clean.charAt(i + 1)) << 12) |
          ((i + 2 < clean.length ? B64.indexOf(clean.charAt(i + 2)) : 0) << 6) |
          (i + 3 < clean.length ? B64.indexOf(clean.charAt(i + 3)) : 0);
      if (j < bytes.length) bytes[j++] = (n >> 16) & 255;
      if (j < bytes.length) bytes[j++] = (n >> 8) & 255;
      if (j < bytes.length) bytes[j++] = n & 255;
    }
    return bytes.buffer;
  }

  function corsXhr() {
    return global.XMLHttpRequest && ('withCredentials' in new global.XMLHttpRequest());
  }

  // One HTTP request; done(status, text), status 0 for a network failure.
  function request(method, url, body, done) {
    var xhr;
    if (corsXhr() || originOf(url) === originOf(global.location ? global.location.href : '')) {
      xhr = new global.XMLHttpRequest();
      xhr.open(method, url, true);
      if (body !== null) xhr.setRequestHeader('Content-Type', 'text/plain');
      xhr.onreadystatechange = function () {
        if (xhr.readyState === 4) { xhr.onreadystatechange = null; done(xhr.status, xhr.responseText); }
      };
      xhr.send(body);
      return xhr;
    }
    xhr = new global.XDomainRequest();  /* IE 8/9: text/plain bodies only, no status codes */
    xhr.onload = function () { done(200, xhr.responseText); };
    xhr.onerror = xhr.ontimeout = function () { done(0, ''); };
    xhr.open(method, url);
    xhr.send(body === null ? '' : body);
    return xhr;
  }

  function cacheBust() { return '_=' + Math.floor(Math.random() * 1e12); }

  function PolySocket(url, options) {
    options = options || {};
    this.url = url;
    this.protocol = '';
    this.extensions = '';
    this.readyState = 0;
    this.bufferedAmount = 0;
    this.binaryType = global.Blob ? 'blob' : 'arraybuffer';
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    this._listeners = {};
    this._relay = (options.relay || defaultRelay).replace(/\/+$/, '');
    this._transport = options.transport || 'auto';
    this._timeout = options.timeout === undefined ? 25000 : options.timeout;
    this._queue = [];
    this._sending = false;
    this._pendingReads = 0;
    this._closeRequested = null;
    this._socket = '';
    this._base = '';
    this._receiving = null;
    this._closeTimer = null;
    this._open();
  }

  PolySocket.CONNECTING = PolySocket.prototype.CONNECTING = 0;
  PolySocket.OPEN = PolySocket.prototype.OPEN = 1;
  PolySocket.CLOSING = PolySocket.prototype.CLOSING = 2;
  PolySocket.CLOSED = PolySocket.prototype.CLOSED = 3;
  PolySocket._cb = {};
  PolySocket._next = 0;

  var proto = PolySocket.prototype;

  proto.addEventListener = function (type, listener) {
    var list = this._listeners[type] || (this._listeners[type] = []);
    for (var i = 0; i < list.length; i++) if (list[i] === listener) return;
    list.push(listener);
  };
  proto.removeEventListener = function (type, listener) {
    var list = this._listeners[type] || [];
    for (var i = 0; i < list.length; i++) if (list[i] === listener) { list.splice(i, 1); return; }
  };
  proto._fire = function (type, fields) {
    var event = { type: type, target: this, currentTarget: this }, k, i;
    for (k in fields) if (fields.hasOwnProperty(k)) event[k] = fields[k];
    var handler = this['on' + type];
    if (typeof handler === 'function') handler.call(this, event);
    var list = (this._listeners[type] || []).slice(0);
    for (i = 0; i < list.length; i++) {
      if (typeof list[i] === 'function') list[i].call(this, event);
      else if (list[i] && typeof list[i].handleEvent === 'function') list[i].handleEvent(event);
    }
  };

  proto._open = function () {
    var self = this;
    request('POST', this._relay + '/polysocket/create', toJson({ target: this.url }), function (status, text) {
      var reply = null;
      try { reply = fromJson(text); } catch (e) { reply = null; }
      if (status !== 200 || !reply || !reply.ok) return self._fail();
      self._socket = reply.socket;
      self._base = self._relay.replace(/^(https?:\/\/)[^\/]+/i, '$1' + reply.relay);
      if (self._closeRequested) {  /* close() while CONNECTING: the remote socket goes too */
        request('POST', self._base + '/polysocket/close', toJson({ socket: self._socket }), function () {});
        return self._fail();
      }
      self.readyState = 1;
      self._fire('open', {});
      self._receive();
    });
  };

  // error, then close 1006: the ending of every failure.
  proto._fail = function () {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this._stopReceiving();
    this._fire('error', {});
    this._fire('close', { code: 1006, reason: '', wasClean: false });
  };

  proto._finish = function (code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this._stopReceiving();
    if (this._closeTimer) { global.clearTimeout(this._closeTimer); this._closeTimer = null; }
    this._fire('close', { code: code, reason: reason, wasClean: code !== 1006 });
  };

  proto._stopReceiving = function () {
    var r = this._receiving;
    this._receiving = null;
    if (r && r.abort) { try { r.abort(); } catch (e) { /* already done */ } }
  };

  proto._pickTransport = function () {
    if (this._transport !== 'auto') return this._transport;
    var sameOrigin = originOf(this._base) === originOf(global.location ? global.location.href : '');
    return corsXhr() || sameOrigin ? 'xhr' : 'jsonp';
  };

  proto._dispatch = function (events) {
    for (var i = 0; i < events.length && this.readyState !== 3; i++) {
      var e = events[i];
      if (e.type === 'string') {
        this._fire('message', { data: e.data });
      } else if (e.type === 'binary') {
        var buffer = base64ToBuffer(e.data);
        this._fire('message', { data: this.binaryType === 'blob' && global.Blob ? new global.Blob([buffer]) : buffer });
      } else if (e.type === 'error') {
        this._fire('error', {});
      } else if (e.type === 'close') {
        this._finish(e.code, e.reason || '');
      }
    }
  };

  proto._receive = function () {
    if (this.readyState === 3) return;
    var transport = this._pickTransport();
    if (transport === 'xhr') return this._receiveXhr();
    if (transport === 'sse') return this._receiveSse();
    if (transport === 'jsonp') return this._receiveJsonp();
    return this._receivePoll();
  };

  proto._receivePoll = function () {
    var self = this;
    this._receiving = request('GET', this._base + '/polysocket/poll?socket=' + this._socket +
      '&timeout=' + this._timeout + '&' + cacheBust(), null, function (status, text) {
      if (self.readyState === 3) return;
      var reply = null;
      try { reply = fromJson(text); } catch (e) { reply = null; }
      if (status !== 200 || !reply || !reply.ok) return self._fail();
      self._dispatch(reply.events);
      self._receive();
    });
  };

  proto._receiveJsonp = function () {
    var self = this, name = 'c' + (PolySocket._next++), doc = global.document;
    var script = doc.createElement('script'), done = false;
    function cleanup() {
      done = true;
      delete PolySocket._cb[name];
      if (script.parentNode) script.parentNode.removeChild(script);
    }
    PolySocket._cb[name] = function (reply) {
      if (done) return;
      cleanup();
      if (self.readyState === 3) return;
      if (!reply || !reply.ok) return self._fail();
      self._dispatch(reply.events);
      self._receive();
    };
    script.onerror = function () { if (!done) { cleanup(); self._fail(); } };
    script.src = this._base + '/polysocket/jsonp?socket=' + this._socket + '&timeout=' +
      this._timeout + '&callback=PolySocket._cb.' + name + '&' + cacheBust();
    this._receiving = { abort: cleanup };
    (doc.getElementsByTagName('head')[0] || doc.documentElement).appendChild(script);
  };

  proto._receiveXhr = function () {
    var self = this, seen = 0, xhr = new global.XMLHttpRequest();
    function consume() {
      var text = xhr.responseText || '', end, line;
      while ((end = text.indexOf('\n', seen)) >= 0) {
        line = text.substring(seen, end);
        seen = end + 1;
        if (/\S/.test(line)) self._dispatch([fromJson(line)]);
        if (self.readyState === 3) return;
      }
    }
    xhr.open('GET', this._base + '/polysocket/xhr?socket=' + this._socket + '&' + cacheBust(), true);
    xhr.onprogress = consume;
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) return;
      xhr.onreadystatechange = null;
      if (self.readyState === 3 || self._receiving !== xhr) return;
      if (xhr.status !== 200) return self._fail();
      consume();
      self._receive();  /* the stream ended (cap, supersession): the next one at once */
    };
    this._receiving = xhr;
    xhr.send(null);
  };

  proto._receiveSse = function () {
    var self = this;
    var source = new global.EventSource(this._base + '/polysocket/sse?socket=' + this._socket + '&' + cacheBust());
    source.onmessage = function (message) {
      self._dispatch([fromJson(message.data)]);
    };
    source.onerror = function () {
      source.close();
      if (self.readyState === 3 || self._receiving !== source) return;
      self._receive();  /* ended by the server (supersession); a gone socket answers 403 next */
    };
    source.abort = function () { source.close(); };
    this._receiving = source;
  };

  proto.send = function (data) {
    if (this.readyState === 0) throw DomError('InvalidStateError', 'PolySocket is still connecting');
    if (this.readyState !== 1) return;
    var self = this, slot = { ready: false, event: null, size: 0 };
    this._queue.push(slot);
    if (typeof data === 'string') {
      slot.event = { type: 'string', data: data };
      slot.size = utf8Length(data);
      slot.ready = true;
    } else if (global.Blob && data instanceof global.Blob) {
      slot.size = data.size;
      var reader = new global.FileReader();
      reader.onload = function () {
        slot.event = { type: 'binary', data: bytesToBase64(new Uint8Array(reader.result)) };
        slot.ready = true;
        self._flush();
      };
      reader.readAsArrayBuffer(data);
    } else {
      var bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      slot.event = { type: 'binary', data: bytesToBase64(bytes) };
      slot.size = bytes.length;
      slot.ready = true;
    }
    this.bufferedAmount += slot.size;
    this._flush();
  };

  // At most one send request in flight; what queued meanwhile goes out together, in order.
  proto._flush = function () {
    if (this._sending || this.readyState === 3) return;
    var batch = [], size = 0;
    while (this._queue.length && this._queue[0].ready) {
      var slot = this._queue.shift();
      batch.push(slot.event);
      size += slot.size;
    }
    if (!batch.length) return this._afterFlush();
    var self = this;
    this._sending = true;
    request('POST', this._base + '/polysocket/send', toJson({ socket: this._socket, events: batch }), function (status) {
      self._sending = false;
      self.bufferedAmount -= size;
      if (self.readyState === 3) return;
      if (status !== 201 && status !== 200) return self._fail();
      self._flush();
    });
  };

  proto._afterFlush = function () {
    if (this.readyState !== 2 || this._queue.length || this._sending || !this._closeRequested) return;
    var req = this._closeRequested, self = this;
    if (req.sent) return;
    req.sent = true;
    var body = { socket: this._socket };
    if (req.code !== undefined) body.code = req.code;
    if (req.reason !== undefined) body.reason = req.reason;
    request('POST', this._base + '/polysocket/close', toJson(body), function () {});
    this._closeTimer = global.setTimeout(function () { self._finish(1006, ''); }, 5000);
  };

  proto.close = function (code, reason) {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw DomError('InvalidAccessError', 'close code must be 1000 or 3000-4999');
    }
    if (reason !== undefined && utf8Length(String(reason)) > 123) {
      throw DomError('SyntaxError', 'close reason is longer than 123 bytes');
    }
    if (this.readyState >= 2) return;
    this._closeRequested = { code: code, reason: reason === undefined ? undefined : String(reason) };
    if (this.readyState === 0) return;  /* failed once create returns */
    this.readyState = 2;
    this._flush();
  };

  global.PolySocket = PolySocket;
})(this);
