package csbmsg

import "time"

// JobListing is the JSON form of the Consumer collection's job list (GET
// <consumer_path> with "Accept: application/json"), an extension beside
// the draft's JobList: the broker writes it and its CLI reads it.
type JobListing struct {
	Jobs []ListedJob `json:"jobs"`
}

// ListedJob is one job of a JobListing: what the job's <response-job-info>
// says, and the provider and service that hold it, which the draft's
// response does not carry.
type ListedJob struct {
	JobID     string `json:"job_id"`
	JobStatus string `json:"job_status"`
	Reason    string `json:"reason,omitempty"`
	Kind      string `json:"kind,omitempty"`
	// ProviderID and ServiceID hold the job (set once it succeeded).
	ProviderID string `json:"provider_id,omitempty"`
	ServiceID  string `json:"service_id,omitempty"`
	// Expires is the lease seconds left, as <expires>.
	Expires         uint64    `json:"expires"`
	CloudServiceURI string    `json:"cloud_service_uri,omitempty"`
	Attempts        int       `json:"attempts"`
	CopiedFrom      string    `json:"copied_from,omitempty"`
	Created         time.Time `json:"created"`
	Updated         time.Time `json:"updated"`
	// Cost is what the job cost so far (docs/costs.md), final when
	// CostFinal; CostRate is what it costs per hour while it accrues.
	// All three are absent for a job without a cost (an unpriced
	// provider, or a job that never held resources), as the job's
	// answers then have no Csb-Cost header.
	Cost      *float64 `json:"cost,omitempty"`
	CostFinal bool     `json:"cost_final,omitempty"`
	CostRate  *float64 `json:"cost_rate,omitempty"`
}
