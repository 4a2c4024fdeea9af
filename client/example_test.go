package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/client"
)

// A synchronous call: the hub adds the service's credentials, calls it and answers with what
// the service said, the service's own credentials masked (this one echoes them).
func ExampleClient_Request() {
	// A service the hub knows as "crm": it creates users.
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username string }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id": 42, "username": %q, "auth": %q}`, in.Username, r.Header.Get("Authorization"))
	}))
	defer crm.Close()
	hub, err := startHub(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	if err := hub.AddService("crm", crm.URL+"/api"); err != nil {
		log.Fatal(err)
	}

	c, err := client.New(hub.URL, hub.Token)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Request(context.Background(), "crm", "/users", map[string]any{"username": "jdoe"}, "POST")
	if err != nil {
		log.Fatal(err)
	}
	var user struct {
		ID       int    `json:"id"`
		Username string `json:"username"`
		Auth     string `json:"auth"`
	}
	if err := resp.Decode(&user); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.OK, resp.Status, resp.Attempts)
	fmt.Println(user.ID, user.Username, user.Auth)
	// Output:
	// true 201 1
	// 42 jdoe Bearer ********
}

// The fluent form, against a service that fails once: the hub retries with backoff and reports
// how many attempts it took.
func ExampleCall_Do() {
	var calls atomic.Int32
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s trace=%s", r.Method, r.URL.Path, body, r.Header.Get("X-Trace"))
	}))
	defer crm.Close()
	hub, err := startHub(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	if err := hub.AddService("crm", crm.URL); err != nil {
		log.Fatal(err)
	}
	c, err := client.New(hub.URL, hub.Token)
	if err != nil {
		log.Fatal(err)
	}

	resp, err := c.Send("crm").
		To("/users/42").
		With(map[string]any{"email": "jdoe@example.edu"}).
		Method("PUT").
		Header("X-Trace", "t-1").
		Timeout(10 * time.Second).
		Do(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.OK, resp.Status, resp.Attempts)
	fmt.Println(resp.Text()) // a text answer arrives as a string
	// Output:
	// true 200 2
	// PUT /users/42 {"email":"jdoe@example.edu"} trace=t-1
}

// A queued call: the hub stores it as a delivery and answers at once; its delivery workers
// send it with the same retries and circuit breaker.
func ExampleAsyncCall_Do() {
	hub, err := startHub(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	if err := hub.AddService("crm", "https://crm.example.com/api"); err != nil {
		log.Fatal(err)
	}
	c, err := client.New(hub.URL, hub.Token)
	if err != nil {
		log.Fatal(err)
	}

	q, err := c.Send("crm").To("/orders").With(map[string]any{"id": 77}).IdempotencyKey("order-77").Async().Do(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("delivery", q.DeliveryID, "key", q.IdempotencyKey)
	// Output: delivery 1 key order-77
}

// Events are published as *mih.Event, maps or structs; the same id twice is stored once.
func ExampleClient_PublishEvent() {
	hub, err := startHub(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	c, err := client.New(hub.URL, hub.Token)
	if err != nil {
		log.Fatal(err)
	}

	created := &mih.Event{
		ID: "plugin:1", EventName: `\core\event\user_created`, Component: "core", Action: "created",
		Target: "user", CRUD: "c", ContextID: 1, UserID: 2, TimeCreated: 1767225600,
	}
	loggedIn := map[string]any{
		"id": "plugin:2", "eventname": `\core\event\user_loggedin`, "userid": 42,
		"other": map[string]any{"username": "jdoe"}, "timecreated": 1767225610,
	}
	ctx := context.Background()
	res, err := c.PublishEvent(ctx, created, loggedIn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted", res.Accepted, "duplicates", res.Duplicates)
	res, err = c.PublishEvent(ctx, loggedIn)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted", res.Accepted, "duplicates", res.Duplicates)
	// Output:
	// accepted 2 duplicates 0
	// accepted 0 duplicates 1
}

// Refusals of the hub are *client.Error values with the status, the hub's code and message.
func ExampleError() {
	hub, err := startHub(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	c, err := client.New(hub.URL, hub.Token)
	if err != nil {
		log.Fatal(err)
	}

	_, err = c.Send("no-such-service").Do(context.Background())
	if e, ok := errors.AsType[*client.Error](err); ok {
		fmt.Println(e.Status, e.Code, client.IsNotFound(err), client.IsCircuitOpen(err))
	}
	// Output: 404 not_found true false
}
