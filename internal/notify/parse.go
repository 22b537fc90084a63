package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
)

// Sender is a kind of registry that sends notifications, and the last
// element of its path (/notifications/SENDER).
type Sender string

// The senders tagpin understands.
const (
	// Distribution is the CNCF Distribution registry (and registries
	// that send its envelope): application/vnd.docker.distribution.events.v1+json.
	Distribution Sender = "distribution"
	// Harbor sends PUSH_ARTIFACT webhooks.
	Harbor Sender = "harbor"
	// DockerHub sends repository webhooks: a repository and a tag, no
	// digest.
	DockerHub Sender = "dockerhub"
	// Generic is {"registry", "repository", "tag", "digest"}, one object
	// or a list of them, for senders without a format of their own.
	Generic Sender = "generic"
)

// Senders are the senders, in the order documentation lists them.
var Senders = []Sender{Distribution, Harbor, DockerHub, Generic}

// Event is what a notification says happened: a tag was pushed. It is a
// hint: the digest, when the sender gives one, is not trusted, and the
// tag is confirmed with the registry before anything is recorded.
type Event struct {
	// Ref is registry/repository:tag, without a digest.
	Ref imageref.Reference
	// Digest is the digest the sender reported, if any.
	Digest digest.Digest
}

// ErrInvalid is wrapped by the errors of payloads that cannot be read.
var ErrInvalid = errors.New("invalid notification")

// parsed is the outcome of reading one payload.
type parsed struct {
	events  []Event
	ignored int // entries that are not tag pushes (blobs, pulls, deletes, digests)
}

// parse reads body as sender's format. registry, when set, replaces the
// registry host the payload names (a registry known to tagpin under
// another name than the one its clients push to).
func parse(sender Sender, body []byte, registry string) (parsed, error) {
	switch sender {
	case Distribution:
		return parseDistribution(body, registry)
	case Harbor:
		return parseHarbor(body, registry)
	case DockerHub:
		return parseDockerHub(body, registry)
	case Generic:
		return parseGeneric(body, registry)
	}
	return parsed{}, fmt.Errorf("%w: unknown sender %q", ErrInvalid, sender)
}

// distributionEnvelope is the part of Distribution's event envelope
// tagpin reads.
type distributionEnvelope struct {
	Events *[]struct {
		Action string `json:"action"`
		Target struct {
			MediaType  string `json:"mediaType"`
			Digest     string `json:"digest"`
			Repository string `json:"repository"`
			URL        string `json:"url"`
			Tag        string `json:"tag"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	} `json:"events"`
}

func parseDistribution(body []byte, registry string) (parsed, error) {
	var env distributionEnvelope
	if err := decode(body, &env); err != nil {
		return parsed{}, err
	}
	if env.Events == nil {
		return parsed{}, fmt.Errorf("%w: no events list: not a Distribution event envelope", ErrInvalid)
	}
	var out parsed
	for i, e := range *env.Events {
		if e.Action != "push" || e.Target.Tag == "" || looksLikeDigest(e.Target.Tag) {
			out.ignored++
			continue
		}
		host := registry
		if host == "" {
			host = e.Request.Host
		}
		if host == "" {
			if u, err := url.Parse(e.Target.URL); err == nil {
				host = u.Host
			}
		}
		ev, err := event(host, e.Target.Repository, e.Target.Tag, e.Target.Digest)
		if err != nil {
			return parsed{}, fmt.Errorf("event %d: %w", i, err)
		}
		out.events = append(out.events, ev)
	}
	return out, nil
}

// harborPayload is the part of Harbor's webhook payload tagpin reads.
type harborPayload struct {
	Type      string `json:"type"`
	EventData *struct {
		Resources []struct {
			Digest      string `json:"digest"`
			Tag         string `json:"tag"`
			ResourceURL string `json:"resource_url"`
		} `json:"resources"`
		Repository struct {
			RepoFullName string `json:"repo_full_name"`
		} `json:"repository"`
	} `json:"event_data"`
}

func parseHarbor(body []byte, registry string) (parsed, error) {
	var p harborPayload
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	if p.Type == "" || p.EventData == nil {
		return parsed{}, fmt.Errorf("%w: no type or event_data: not a Harbor webhook payload", ErrInvalid)
	}
	var out parsed
	if p.Type != "PUSH_ARTIFACT" {
		out.ignored++
		return out, nil
	}
	for i, r := range p.EventData.Resources {
		// Harbor puts the digest in the tag field of a push by digest.
		if r.Tag == "" || looksLikeDigest(r.Tag) {
			out.ignored++
			continue
		}
		host, repo := registry, p.EventData.Repository.RepoFullName
		if u := r.ResourceURL; u != "" {
			// resource_url is host/project/repo:tag (or @digest).
			if h, rest, ok := strings.Cut(u, "/"); ok {
				if host == "" {
					host = h
				}
				if repo == "" {
					repo, _, _ = strings.Cut(rest, "@")
					if j := strings.LastIndex(repo, ":"); j > strings.LastIndex(repo, "/") {
						repo = repo[:j]
					}
				}
			}
		}
		ev, err := event(host, repo, r.Tag, r.Digest)
		if err != nil {
			return parsed{}, fmt.Errorf("resource %d: %w", i, err)
		}
		out.events = append(out.events, ev)
	}
	return out, nil
}

// dockerHubPayload is the part of Docker Hub's webhook payload tagpin
// reads.
type dockerHubPayload struct {
	PushData *struct {
		Tag string `json:"tag"`
	} `json:"push_data"`
	Repository *struct {
		RepoName string `json:"repo_name"`
	} `json:"repository"`
}

func parseDockerHub(body []byte, registry string) (parsed, error) {
	var p dockerHubPayload
	if err := decode(body, &p); err != nil {
		return parsed{}, err
	}
	if p.PushData == nil || p.Repository == nil {
		return parsed{}, fmt.Errorf("%w: no push_data or repository: not a Docker Hub webhook payload", ErrInvalid)
	}
	if registry == "" {
		registry = "docker.io"
	}
	ev, err := event(registry, p.Repository.RepoName, p.PushData.Tag, "")
	if err != nil {
		return parsed{}, err
	}
	return parsed{events: []Event{ev}}, nil
}

// genericEvent is one entry of the generic format.
type genericEvent struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
}

func parseGeneric(body []byte, registry string) (parsed, error) {
	var list []genericEvent
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		if err := decode(body, &list); err != nil {
			return parsed{}, err
		}
	} else {
		var one genericEvent
		if err := decode(body, &one); err != nil {
			return parsed{}, err
		}
		list = []genericEvent{one}
	}
	var out parsed
	for i, g := range list {
		host := g.Registry
		if registry != "" {
			host = registry
		}
		ev, err := event(host, g.Repository, g.Tag, g.Digest)
		if err != nil {
			return parsed{}, fmt.Errorf("event %d: %w", i, err)
		}
		out.events = append(out.events, ev)
	}
	return out, nil
}

// decode unmarshals a JSON body, saying what is wrong with it.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: the body is not the expected JSON: %w", ErrInvalid, err)
	}
	return nil
}

// event checks the parts of a pushed tag and makes it an Event.
func event(registry, repository, tag, dgst string) (Event, error) {
	switch {
	case registry == "":
		return Event{}, fmt.Errorf("%w: no registry host (pass ?registry=HOST in the endpoint's URL)", ErrInvalid)
	case repository == "":
		return Event{}, fmt.Errorf("%w: no repository", ErrInvalid)
	case tag == "":
		return Event{}, fmt.Errorf("%w: no tag", ErrInvalid)
	case strings.ContainsAny(registry, "/@ ") || strings.ContainsAny(repository, ":@ ") || strings.ContainsAny(tag, "/:@ "):
		return Event{}, fmt.Errorf("%w: %q, %q, %q is not a registry, a repository and a tag", ErrInvalid, registry, repository, tag)
	}
	ref, err := imageref.Parse(registry + "/" + strings.TrimPrefix(repository, "/") + ":" + tag)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ev := Event{Ref: ref}
	if d, err := digest.Parse(dgst); err == nil {
		ev.Digest = d
	}
	return ev, nil
}

// looksLikeDigest reports whether a tag field holds a digest instead.
func looksLikeDigest(tag string) bool {
	return strings.Contains(tag, ":")
}
