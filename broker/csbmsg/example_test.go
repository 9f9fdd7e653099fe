package csbmsg_test

import (
	"errors"
	"fmt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Parsing a notification written with the draft's example spellings:
// lenient mode accepts it and reports each alias; strict mode answers 420.
func ExampleParsePublish() {
	msg := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<p:csbpublish xmlns:p="urn:ietf:params:xml:ns:csb-publish" version="1.0">
  <p:csbnotification id="QQ6J3c" seqnumber="1">
    <p:Cloud-Service-Provider>
      <p:Cloud-Service-Provider-id>a1b2c3d4</p:Cloud-Service-Provider-id>
      <p:Cloud-Service-Provider-status>active</p:Cloud-Service-Provider-status>
    </p:Cloud-Service-Provider>
    <p:Cloud-Service>
      <p:Cloud-Service-id>w1x2y3z4</p:Cloud-Service-id>
      <p:Cloud-Service-status>active</p:Cloud-Service-status>
      <p:IaaS-support>
        <p:Network-support><p:vlan>343</p:vlan></p:Network-support>
      </p:IaaS-support>
    </p:Cloud-Service>
    <p:encryption>false</p:encryption>
  </p:csbnotification>
</p:csbpublish>`)

	p, err := csbmsg.ParsePublish(msg, csbmsg.Options{
		OnAlias: func(alias, canonical string) { fmt.Printf("alias <%s> for <%s>\n", alias, canonical) },
	})
	if err != nil {
		panic(err)
	}
	n := p.Notification
	fmt.Println(n.Provider.ID, n.Services[0].ID, *n.Services[0].IaaS.Network.VLAN, *n.EncryptionSupport)

	_, err = csbmsg.ParsePublish(msg, csbmsg.Options{Mode: csbmsg.Strict})
	var e *csbmsg.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Reason)
	}
	// Output:
	// alias <Network-support> for <network-support>
	// alias <encryption> for <encryption-support>
	// a1b2c3d4 w1x2y3z4 343 false
	// 420 Unsupported attribute or element /csbpublish/csbnotification/Cloud-Service/IaaS-support/Network-support: element <Network-support> is not defined by the csb-publish schema (its name there is <network-support>)
}

// Serialising a consumer response.
func ExampleMarshalConsumer() {
	out, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Response: &csbmsg.ServiceResponse{
		Status: csbmsg.StatusOK,
		Reason: "Resource found",
		JobInfo: &csbmsg.ResponseJobInfo{
			JobID: "0GX1jCYZ8WBa", JobStatus: "success", Expires: 3600,
			CloudServiceURI: "http://xyz.example.com/IaaS?um=9",
		},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <csbconsumer xmlns="urn:ietf:params:xml:ns:csb-consumer" version="1.0">
	//   <CloudServiceResponse status="200" reason="Resource found">
	//     <response-job-info>
	//       <job-id>0GX1jCYZ8WBa</job-id>
	//       <job-status>success</job-status>
	//       <expires>3600</expires>
	//       <Cloud-service-URI>http://xyz.example.com/IaaS?um=9</Cloud-service-URI>
	//     </response-job-info>
	//   </CloudServiceResponse>
	// </csbconsumer>
}
