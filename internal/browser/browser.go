// Package browser drives headless Chromium over the DevTools protocol, so
// tests can look at the HTML reports the way a person would: load the page,
// take a screenshot, ask whether every image loaded and read what the page
// shows.
//
// It talks to Chromium over --remote-debugging-pipe (NUL-separated JSON on
// file descriptors 3 and 4), which needs no port, no WebSocket library and no
// third-party client: the few commands the tests use fit in this file.
package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// EnvChromium names the Chromium binary; scripts/setup.sh installs Debian's
// chromium package and writes its path here in .facebatch.env.
const EnvChromium = "FACEBATCH_CHROMIUM"

// ErrNoChromium means no Chromium binary was found.
var ErrNoChromium = errors.New("browser: no Chromium (run scripts/setup.sh, which installs it and sets $" + EnvChromium + ")")

// ErrClosed means the browser exited or was closed while a call waited.
var ErrClosed = errors.New("browser: closed")

// Path returns the Chromium binary: $FACEBATCH_CHROMIUM, else chromium or
// chromium-browser on PATH.
func Path() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $%s: %v", ErrNoChromium, EnvChromium, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Browser is one headless Chromium process.
type Browser struct {
	cmd     *exec.Cmd
	profile string
	send    io.WriteCloser
	stderr  *tailBuffer

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan message
	waiters []*waiter
	err     error // set once the read loop ends
	done    chan struct{}
	writeMu sync.Mutex
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type waiter struct {
	session, method string
	ch              chan struct{}
}

// Start launches headless Chromium. Close it when done.
func Start(ctx context.Context) (*Browser, error) {
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "facebatch-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	// fd 3: commands to Chromium; fd 4: its replies and events.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: %w", err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: %w", err)
	}
	cmd := exec.Command(bin,
		"--headless", "--remote-debugging-pipe", "--user-data-dir="+profile,
		// Tests run as root in containers: no sandbox, no GPU, no /dev/shm.
		"--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--mute-audio", "--hide-scrollbars",
		"about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, evW}
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		cmdR.Close()
		cmdW.Close()
		evR.Close()
		evW.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: starting %s: %w", bin, err)
	}
	cmdR.Close()
	evW.Close()
	b := &Browser{cmd: cmd, profile: profile, send: cmdW, stderr: tail,
		pending: map[int64]chan message{}, done: make(chan struct{})}
	go b.read(evR)
	// The first call tells whether the browser is up.
	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: %s did not answer: %w (stderr: %s)", bin, err, tail)
	}
	return b, nil
}

// read dispatches Chromium's messages until the pipe closes.
func (b *Browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	var err error
	for {
		var line []byte
		line, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(line[:len(line)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				delete(b.pending, m.ID)
				ch <- m
			}
		} else if m.Method != "" {
			kept := b.waiters[:0]
			for _, w := range b.waiters {
				if w.method == m.Method && w.session == m.SessionID {
					close(w.ch)
					continue
				}
				kept = append(kept, w)
			}
			b.waiters = kept
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.err = fmt.Errorf("%w: %v", ErrClosed, err)
	b.mu.Unlock()
	close(b.done)
}

// await registers interest in an event before the command that causes it.
func (b *Browser) await(session, method string) <-chan struct{} {
	w := &waiter{session: session, method: method, ch: make(chan struct{})}
	b.mu.Lock()
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	return w.ch
}

// call sends one command and decodes its result into out (if not nil).
func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("browser: %s: %w", method, err)
	}
	if params == nil {
		raw = nil
	}
	ch := make(chan message, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	data, err := json.Marshal(message{ID: id, Method: method, Params: raw, SessionID: session})
	if err != nil {
		return fmt.Errorf("browser: %s: %w", method, err)
	}
	b.writeMu.Lock()
	_, err = b.send.Write(append(data, 0))
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("browser: sending %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("browser: %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				return fmt.Errorf("browser: %s result: %w", method, err)
			}
		}
		return nil
	case <-b.done:
		return b.err
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("browser: %s: %w", method, ctx.Err())
	}
}

// Close ends the browser and removes its profile folder.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.call(ctx, "", "Browser.close", nil, nil)
	b.send.Close()
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
	return os.RemoveAll(b.profile)
}

// Page is one tab.
type Page struct {
	b         *Browser
	target    string
	session   string
	width     int
	navigated bool
}

// Open opens a tab of the given viewport width and loads url into it,
// returning when the page's load event has fired (every image fetched or
// failed).
func (b *Browser) Open(ctx context.Context, url string, width, height int) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &s); err != nil {
		return nil, err
	}
	p := &Page{b: b, target: t.TargetID, session: s.SessionID, width: width}
	if err := p.call(ctx, "Page.enable", nil, nil); err != nil {
		return nil, err
	}
	if err := p.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
	}, nil); err != nil {
		return nil, err
	}
	loaded := b.await(p.session, "Page.loadEventFired")
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return nil, err
	}
	if nav.ErrorText != "" {
		return nil, fmt.Errorf("browser: loading %s: %s", url, nav.ErrorText)
	}
	select {
	case <-loaded:
	case <-b.done:
		return nil, b.err
	case <-ctx.Done():
		return nil, fmt.Errorf("browser: loading %s: %w", url, ctx.Err())
	}
	return p, nil
}

func (p *Page) call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

// Eval evaluates a JavaScript expression in the page (awaiting it if it is a
// promise) and decodes its JSON value into out.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil {
			msg = e.Exception.Description
		}
		return fmt.Errorf("browser: evaluating %q: %s", expr, msg)
	}
	if out == nil {
		return nil
	}
	if len(r.Result.Value) == 0 {
		return fmt.Errorf("browser: %q has no JSON value", expr)
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Images describes the page's <img> elements once each has been decoded or
// has failed.
type Images struct {
	Total  int
	Loaded int
	// Broken lists the first characters of each failed image's src.
	Broken []string
}

// Images waits for every <img> to decode and counts the ones that did
// (naturalWidth > 0 after a successful decode).
func (p *Page) Images(ctx context.Context) (Images, error) {
	const js = `Promise.all(Array.from(document.images).map(img =>
		img.decode().then(() => img.naturalWidth > 0, () => false).then(ok => ({ok, src: img.getAttribute('src') || ''}))))`
	var all []struct {
		OK  bool   `json:"ok"`
		Src string `json:"src"`
	}
	if err := p.Eval(ctx, js, &all); err != nil {
		return Images{}, err
	}
	res := Images{Total: len(all)}
	for _, img := range all {
		if img.OK {
			res.Loaded++
			continue
		}
		res.Broken = append(res.Broken, img.Src[:min(len(img.Src), 80)])
	}
	return res, nil
}

// Texts returns the trimmed text of every element matching a CSS selector.
func (p *Page) Texts(ctx context.Context, selector string) ([]string, error) {
	sel, err := json.Marshal(selector)
	if err != nil {
		return nil, err
	}
	var out []string
	err = p.Eval(ctx, `Array.from(document.querySelectorAll(`+string(sel)+`)).map(e => e.textContent.trim())`, &out)
	return out, err
}

// Count returns how many elements match a CSS selector.
func (p *Page) Count(ctx context.Context, selector string) (int, error) {
	sel, err := json.Marshal(selector)
	if err != nil {
		return 0, err
	}
	var n int
	err = p.Eval(ctx, `document.querySelectorAll(`+string(sel)+`).length`, &n)
	return n, err
}

// Screenshot returns a PNG of the whole page, not only the viewport.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var m struct {
		Content struct {
			Height float64 `json:"height"`
		} `json:"cssContentSize"`
	}
	if err := p.call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
		return nil, err
	}
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.call(ctx, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": p.width, "height": max(m.Content.Height, 1), "scale": 1},
	}, &shot); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return nil, fmt.Errorf("browser: screenshot: %w", err)
	}
	return png, nil
}

// Close closes the tab.
func (p *Page) Close(ctx context.Context) error {
	return p.b.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// FileURL is the file:// URL of a local path.
func FileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("browser: %w", err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}
